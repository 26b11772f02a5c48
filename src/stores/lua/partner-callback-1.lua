--[[
  A partner's callback about a unit it answered 202 for (contract §5.1), applied atomically to the
  unit's Product Store document.

  A pending unit takes the partner's word (`active` → established, `failed` → failed, with its
  reference and reason) unless its deadline passed, or its purchase no longer runs (ARGV[5]). The
  same word again is answered `again` and changes nothing; any other state (decided otherwise,
  removed, late, never pending, its purchase undone) is `closed`.

  Invariant: a unit's integration leaves `pending` once, by its partner's word before its deadline
  or not at all (the saga then fails it at the deadline).

  KEYS[1] the unit (string, JSON ProvisionedProduct)

  ARGV[1] the partner's status: active | failed
  ARGV[2] its externalRef, or '' to keep the one from the 202
  ARGV[3] its reason, or ''
  ARGV[4] now, ISO 8601 UTC (compared with the pending unit's `until`, same format)
  ARGV[5] `take` while the unit's purchase runs; `answer` once it stopped (only a word taken before is answered)

  Returns 'missing' | 'taken' | 'again' | 'closed'
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return 'missing' end
local unit = cjson.decode(raw)
local integration = unit.integration
if type(integration) ~= 'table' then return 'closed' end
local want = (ARGV[1] == 'active') and 'established' or 'failed'
-- Only a unit that waited has `until`: one provisioned at once never takes a callback.
if integration.status == want and integration['until'] then return 'again' end
if integration.status ~= 'pending' or ARGV[5] ~= 'take' then return 'closed' end
if integration['until'] and ARGV[4] >= integration['until'] then return 'closed' end
integration.status = want
if ARGV[2] ~= '' then integration.externalRef = ARGV[2] end
if ARGV[3] ~= '' then integration.reason = ARGV[3] end
unit.updatedAt = ARGV[4]
redis.call('SET', KEYS[1], cjson.encode(unit), 'KEEPTTL')
return 'taken'
