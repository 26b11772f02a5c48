--[[
  The gateway's write for a new purchase: claims the Idempotency-Key, creates the record
  (indexed as open, for the watchdog) and stores the acknowledgement notification.

  Invariant: one purchase per Idempotency-Key: when an earlier request holds the key, nothing
  is written; otherwise record, open index and acknowledgement are written together.

  KEYS[1] purchase record (hash)
  KEYS[2] open purchases (sorted set of purchase ids, scored by creation time)
  KEYS[3] the Idempotency-Key claim (string), or absent
  KEYS[4] the acknowledgement notification (string), or absent
  KEYS[5] its customer's notification index (sorted set), or absent
  An absent key is '' or KEYS[1] again: on a cluster every key must hash to the record's slot,
  and '' does not.
  KEYS[6] the customer's purchase index (sorted set, scored by creation time; trimmed to the retention)

  ARGV[1] purchase id
  ARGV[2] created-at, epoch ms (the score in both indexes)
  ARGV[3] claim value
  ARGV[4] claim TTL in seconds
  ARGV[5] acknowledgement JSON
  ARGV[6] acknowledgement id
  ARGV[7] notification and purchase-index retention in seconds (0 = keep)
  ARGV[8…] field, value, field, value… of the record

  Returns the earlier claim's value when the key was taken (nothing written), else nil
]]
local function present(key) return key ~= '' and key ~= KEYS[1] end
if present(KEYS[3]) then
  local earlier = redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4], 'NX', 'GET')
  if earlier then return earlier end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], 'NX', ARGV[2], ARGV[1])
if tonumber(ARGV[7]) > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[6], 0, tonumber(ARGV[2]) - tonumber(ARGV[7]) * 1000) end
if present(KEYS[4]) then
  local retention = tonumber(ARGV[7])
  if retention > 0 then redis.call('SET', KEYS[4], ARGV[5], 'EX', retention, 'NX') else redis.call('SET', KEYS[4], ARGV[5], 'NX') end
  redis.call('ZADD', KEYS[5], 'NX', ARGV[2], ARGV[6])
  if retention > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[5], 0, tonumber(ARGV[2]) - retention * 1000) end
end
return false
