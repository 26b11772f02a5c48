--[[
  One operation on a payment of the built-in provider: its state machine, applied atomically.

  The payment is a JSON object (ProviderPayment, plus `captureRefused` when its capture will be
  refused). An operation moves it only from the states it applies to; from any other state it
  changes nothing and answers the payment as it is, so every operation is idempotent and
  "already in the state asked for" is an answer like any other.

    authorize  created → ARGV[2]: `hold` is authorized (manual capture) or captured (automatic); failed or
               requires_action as named, with `reason` ARGV[3]; ARGV[4] (JSON, or '') is merged into the payment
               (what the token decides beyond it: a capture to refuse, the action's page)
    complete   requires_action → authorized | captured (`capture` manual or automatic), ARGV[2] 'fail' → failed
    capture    authorized → captured (captured = amount), or voided with `reason` when `captureRefused`
    void       created | requires_action | authorized | failed → voided (a failed one held nothing; voided says it is closed)
    refund     captured → refunded (refunded = captured)

  Invariant: money moves at most once per payment: captured once, refunded once, never both voided and captured.

  `authorize` may create the payment in the same step (ARGV[5]): one round trip for a purchase's
  first authorization, and a second call answers the payment as the first left it.

  KEYS[1] the payment (string, JSON)

  ARGV[1] operation: authorize | complete | capture | void | refund
  ARGV[2] authorize: hold | failed | requires_action; complete: 'complete' or 'fail'
  ARGV[3] authorize: the reason of a failure, or ''
  ARGV[4] authorize: fields to merge into the payment (JSON object), or ''
  ARGV[5] authorize: the payment to create when there is none (JSON, state `created`), or absent

  Returns the payment's JSON after the operation, or nil when there is no payment.
]]
local raw = redis.call('GET', KEYS[1])
if not raw then
  if ARGV[1] ~= 'authorize' or not ARGV[5] or ARGV[5] == '' then return nil end
  raw = ARGV[5]
end
local p = cjson.decode(raw)
local op, s = ARGV[1], p.state
local moved = true
if op == 'authorize' and s == 'created' then
  local to = ARGV[2]
  if to == 'hold' then to = (p.capture == 'automatic') and 'captured' or 'authorized' end
  p.state = to
  if to == 'captured' then p.captured = p.amount end
  if ARGV[3] ~= '' then p.reason = ARGV[3] end
  if ARGV[4] and ARGV[4] ~= '' then
    for k, v in pairs(cjson.decode(ARGV[4])) do p[k] = v end
  end
elseif op == 'complete' and s == 'requires_action' then
  p.action = nil
  if ARGV[2] == 'fail' then
    p.state = 'failed'; p.reason = 'the customer did not complete the authentication'
  elseif p.capture == 'automatic' then
    p.state = 'captured'; p.captured = p.amount
  else
    p.state = 'authorized'
  end
elseif op == 'capture' and s == 'authorized' then
  if p.captureRefused then
    p.state = 'voided'; p.reason = 'the authorization expired before it was captured'
  else
    p.state = 'captured'; p.captured = p.amount
  end
elseif op == 'void' and (s == 'created' or s == 'requires_action' or s == 'authorized' or s == 'failed') then
  p.state = 'voided'; p.action = nil
elseif op == 'refund' and s == 'captured' then
  p.state = 'refunded'; p.refunded = p.captured
else
  moved = false
end
if not moved then return raw end
local out = cjson.encode(p)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return out
