--[[
  Guarded update of a purchase record, then its event.

  Applies the field/value pairs only if the record exists and its phase matches the guard,
  then publishes the record's event on the progress channel, and also on the outcome channel
  when the status is terminal or requires_action (answered); such an event carries the record's hash, so a waiting
  request answers without reading the record back. Closing drops the purchase from the open
  index (the watchdog's) and starts the record's retention. A conditional close ('?N') happens
  only once the purchase is settled: its phase is done, no undo (`undo:<step>` fields) is
  still pending or retrying, and an order cancel requested (`orderCancelRequestedAt`) has ended
  (`orderCanceledAt`), so whichever of settle and the last outside undo writes second closes it,
  atomically, whatever their order.

  Invariant: a record that is missing or fails the guard is left untouched and nothing is
  published; an applied update publishes exactly one event (twice when answered).

  KEYS[1] purchase record (hash)
  KEYS[2] open purchases (sorted set of purchase ids)
  KEYS[3] purchases in review (sorted set of purchase ids by flag time, ms): follows the record in
          the same write, in when `review` is written, out when `reviewResolution` is (a review
          flagged again after a resolution comes back in)

  ARGV[1] guard: '' any phase, 'x' the phase is x, '!x' the phase is not x
  ARGV[2] outcome channel (terminal and requires_action events only)
  ARGV[3] progress channel (every event)
  A channel with a hash tag (`{…}`) is a shard channel, published with SPUBLISH: on a cluster it
  stays on the record's slot (its master and replicas) instead of crossing the cluster bus.
  ARGV[4] purchase id
  ARGV[5] close: '' stays open; N closes, keeping the record N seconds (0 = forever); '?N' closes
          the same way only if the purchase is settled
  ARGV[6] the step whose status changes, or ''
  ARGV[7] that step's status, or ''
  ARGV[8…] field, value, field, value… written to the record

  Returns -1 when there is no record, 0 when the guard fails (nothing written), 1 when applied,
  2 when applied to a purchase whose customer asked to cancel it (`cancelRequestedAt` is set):
  the step runner stops the saga at its next step boundary without reading the record again
]]
-- One read for existence, guard, status and a cancel request: every record has phase and status
-- (4 commands → 1, on a script that runs several times per purchase: docs/performance.md).
local before = redis.call('HMGET', KEYS[1], 'phase', 'status', 'cancelRequestedAt')
local phase = before[1]
if not phase then return -1 end
local g = ARGV[1]
if g ~= '' then
  if string.sub(g, 1, 1) == '!' then
    if phase == string.sub(g, 2) then return 0 end
  elseif phase ~= g then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
local status = before[2]
local resolved, flagged = false, false
for i = 8, #ARGV - 1, 2 do
  local f = ARGV[i]
  if f == 'status' then status = ARGV[i + 1]
  elseif f == 'reviewResolution' then resolved = true
  elseif f == 'review' then flagged = true end
end
if resolved then redis.call('ZREM', KEYS[3], ARGV[4])
elseif flagged then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], 'NX', string.format('%.0f', t[1] * 1000 + math.floor(t[2] / 1000)), ARGV[4])
end
local terminal = status == 'completed' or status == 'partially_fulfilled' or status == 'failed' or status == 'canceled'
-- A purchase waiting for its customer is answered too (202 with its action), like a terminal one.
local answered = terminal or status == 'requires_action'
local all
local close = ARGV[5]
if string.sub(close, 1, 1) == '?' then
  close = string.sub(close, 2)
  all = redis.call('HGETALL', KEYS[1])
  local orderCancel = 0
  for i = 1, #all, 2 do
    if all[i] == 'orderCancelRequestedAt' then orderCancel = orderCancel + 1 end
    if all[i] == 'orderCanceledAt' then orderCancel = orderCancel - 1 end
    local f = all[i]
    if f == 'phase' and all[i + 1] ~= 'done' then close = ''; break end
    if string.sub(f, 1, 5) == 'undo:' then
      -- An undo is a JSON object (UndoState); its status is read, not matched in the text.
      local undo = cjson.decode(all[i + 1]).status
      if undo == 'pending' or undo == 'retrying' then close = ''; break end
    end
  end
  if orderCancel > 0 then close = '' end
end
if close ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  if tonumber(close) > 0 then redis.call('EXPIRE', KEYS[1], close) end
end
local event = {id = ARGV[4], status = status}
if ARGV[6] ~= '' then event.step = ARGV[6]; event.stepStatus = ARGV[7] end
-- An answered event carries the record, so a waiting request answers without reading it back.
if answered then event.record = all or redis.call('HGETALL', KEYS[1]) end
local message = cjson.encode(event)
local publish = string.find(ARGV[3], '{', 1, true) and 'SPUBLISH' or 'PUBLISH'
redis.call(publish, ARGV[3], message)
if answered then redis.call(publish, ARGV[2], message) end
if before[3] then return 2 end
return 1
