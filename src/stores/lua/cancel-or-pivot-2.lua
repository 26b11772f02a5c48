--[[
  The cancel/pivot race, and the order-cancel request, decided atomically on the purchase record.

  mode 'cancel' (the customer's POST /v1/purchases/:id/cancel): records the request while the
  saga runs and the pivot (order placement) is not claimed; the saga stops at its next step.
  mode 'pivot' (the saga, just before placing the order): claims the pivot unless a cancel was
  requested first. Both read the same two fields in one script, so exactly one of them wins: a
  cancel recorded before the claim makes the claim answer 'canceled'; a claim made before the
  cancel makes the cancel answer 'placed' (the pivot is claimed: the order may also be still on its
  way, or have failed for good; the gateway reads the record to tell which).
  mode 'cancel-order' (POST /v1/orders/:id/cancel, a completed purchase): records the request
  once, marks each undo field given in ARGV[7…] pending unless it already has a state, and puts
  the purchase back in the open index (the watchdog's) until those undos end.

  Invariant: a purchase never has both `cancelRequestedAt` and `pivotClaimedAt`; every answer
  after the first is the same (a second cancel reports what the first did); nothing is written
  when the answer is a refusal.

  KEYS[1] purchase record (hash)
  KEYS[2] open purchases (sorted set of purchase ids)

  ARGV[1] mode: 'cancel' | 'pivot' | 'cancel-order'
  ARGV[2] now, ISO-8601 (written as the request's or the claim's time, and updatedAt)
  ARGV[3] now, epoch ms (the open index's score)
  ARGV[4] the pivot step's status field ('step:order_placement'), or '' (cancel-order)
  ARGV[5] progress channel (an event when something is written; SPUBLISH when hash-tagged)
  ARGV[6] purchase id
  ARGV[7…] cancel-order: undo field, pending state JSON, undo field, pending state JSON…

  Returns
    cancel:       'requested' | 'already-requested' | 'canceled' | 'placed' | 'finished' | 'failing' | 'missing'
    pivot:        'claimed' | 'canceled' | 'stopped' | 'missing'
    cancel-order: 'requested' | 'already-requested' | 'not-completed' | 'missing'
]]
local mode = ARGV[1]
-- Every record has a phase: one read tells a missing record too (the pivot claim is on every purchase's path).
local f = redis.call('HMGET', KEYS[1], 'phase', 'status', 'cancelRequestedAt', 'pivotClaimedAt', 'orderCancelRequestedAt')
local phase, status, cancel, pivot, orderCancel = f[1], f[2], f[3], f[4], f[5]
if not phase then return 'missing' end
local function publish()
  -- A hash-tagged channel is its shard's (SPUBLISH), as in update-purchase-3.
  redis.call(string.find(ARGV[5], '{', 1, true) and 'SPUBLISH' or 'PUBLISH', ARGV[5], cjson.encode({id = ARGV[6], status = status}))
end

if mode == 'cancel' then
  if status == 'canceled' then return 'canceled' end
  if cancel then return 'already-requested' end
  if pivot or (ARGV[4] ~= '' and redis.call('HGET', KEYS[1], ARGV[4]) == 'completed') then return 'placed' end
  if phase == 'done' then return 'finished' end
  if phase ~= 'running' then return 'failing' end
  redis.call('HSET', KEYS[1], 'cancelRequestedAt', ARGV[2], 'updatedAt', ARGV[2])
  publish()
  return 'requested'
elseif mode == 'pivot' then
  if pivot then return 'claimed' end
  if cancel then return 'canceled' end
  if phase ~= 'running' then return 'stopped' end
  redis.call('HSET', KEYS[1], 'pivotClaimedAt', ARGV[2])
  return 'claimed'
elseif mode == 'cancel-order' then
  if orderCancel then return 'already-requested' end
  if phase ~= 'done' or (status ~= 'completed' and status ~= 'partially_fulfilled') then return 'not-completed' end
  redis.call('HSET', KEYS[1], 'orderCancelRequestedAt', ARGV[2], 'updatedAt', ARGV[2])
  for i = 7, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('PERSIST', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[6])
  publish()
  return 'requested'
end
return redis.error_reply('unknown mode ' .. tostring(mode))
