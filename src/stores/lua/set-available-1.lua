--[[
  Operator override of a product's units available for sale.

  Invariant: available + reserved + sold = stocked still holds: `stocked` moves by the same
  delta as `available`; reserved and sold are untouched.

  KEYS[1] the product's stock hash (available, reserved, sold, stocked)

  ARGV[1] the new available count

  Returns the available count it had (0 when unset)
]]
local old = tonumber(redis.call('HGET', KEYS[1], 'available') or '0')
redis.call('HSET', KEYS[1], 'available', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'stocked', tonumber(ARGV[1]) - old)
return old
