--[[
  Takes one operator-armed failure at a fault point.

  Invariant: `times` never goes below zero; each armed failure is taken by exactly one call.

  KEYS[1] the fault point (hash: times, mode)

  ARGV none

  Returns the failure's mode ('error' when none is set), or nil when nothing is armed
]]
local n = tonumber(redis.call('HGET', KEYS[1], 'times') or '0')
if n <= 0 then return false end
redis.call('HINCRBY', KEYS[1], 'times', -1)
return redis.call('HGET', KEYS[1], 'mode') or 'error'
