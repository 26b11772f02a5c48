--[[
  Guarded update of a purchase record, then its event.

  Applies the field/value pairs only if the record exists and its phase matches the guard,
  then publishes the record's event on the progress channel, and also on the outcome channel
  when the status is terminal; a terminal event carries the record's hash, so a waiting
  request answers without reading the record back. Closing drops the purchase from the open
  index (the watchdog's) and starts the record's retention. A conditional close ('?N') happens
  only once the purchase is settled: its phase is done and no undo (`undo:<step>` fields) is
  still pending or retrying, so whichever of settle and the last outside undo writes second
  closes it, atomically, whatever their order.

  Invariant: a record that is missing or fails the guard is left untouched and nothing is
  published; an applied update publishes exactly one event (twice when terminal).

  KEYS[1] purchase record (hash)
  KEYS[2] open purchases (sorted set of purchase ids)

  ARGV[1] guard: '' any phase, 'x' the phase is x, '!x' the phase is not x
  ARGV[2] outcome channel (terminal events only)
  ARGV[3] progress channel (every event)
  A channel with a hash tag (`{…}`) is a shard channel, published with SPUBLISH: on a cluster it
  stays on the record's slot (its master and replicas) instead of crossing the cluster bus.
  ARGV[4] purchase id
  ARGV[5] close: '' stays open; N closes, keeping the record N seconds (0 = forever); '?N' closes
          the same way only if the purchase is settled
  ARGV[6] the step whose status changes, or ''
  ARGV[7] that step's status, or ''
  ARGV[8…] field, value, field, value… written to the record

  Returns -1 when there is no record, 0 when the guard fails (nothing written), 1 when applied
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local g = ARGV[1]
if g ~= '' then
  local phase = redis.call('HGET', KEYS[1], 'phase')
  if string.sub(g, 1, 1) == '!' then
    if phase == string.sub(g, 2) then return 0 end
  elseif phase ~= g then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
local status = redis.call('HGET', KEYS[1], 'status')
local terminal = status == 'completed' or status == 'partially_fulfilled' or status == 'failed'
local all
local close = ARGV[5]
if string.sub(close, 1, 1) == '?' then
  close = string.sub(close, 2)
  all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local f = all[i]
    if (f == 'phase' and all[i + 1] ~= 'done') or (string.sub(f, 1, 5) == 'undo:' and string.find(all[i + 1], '"status":"pending"', 1, true)) or (string.sub(f, 1, 5) == 'undo:' and string.find(all[i + 1], '"status":"retrying"', 1, true)) then
      close = ''
      break
    end
  end
end
if close ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  if tonumber(close) > 0 then redis.call('EXPIRE', KEYS[1], close) end
end
local event = {id = ARGV[4], status = status}
if ARGV[6] ~= '' then event.step = ARGV[6]; event.stepStatus = ARGV[7] end
-- A terminal event carries the record, so a waiting request answers without reading it back.
if terminal then event.record = all or redis.call('HGETALL', KEYS[1]) end
local message = cjson.encode(event)
local publish = string.find(ARGV[3], '{', 1, true) and 'SPUBLISH' or 'PUBLISH'
redis.call(publish, ARGV[3], message)
if terminal then redis.call(publish, ARGV[2], message) end
return 1
