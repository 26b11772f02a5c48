--[[
  Reserves a purchase's stock and quota: all-or-nothing per line, atomic for the purchase.

  A line takes its product and each dependency (its quantity of each) or, when its product
  lacks units, is out of stock; a dependency that lacks units (missing_dependencies) or an
  exceeded per-customer quota (quota_exceeded) rejects the whole purchase; a purchase with no
  line fulfilled is out_of_stock. Each line sees what the lines before it took.

  Invariant: a stock's `available` never goes below zero; a rejected purchase writes nothing;
  the reservation is written once per purchase, so a re-run returns the first answer instead
  of reserving twice.

  KEYS[1]    the purchase's reservation (string: JSON state, stock and quota taken, result)
  KEYS[2…]   every stock hash (available, reserved) and quota counter the request names, each
             once, in any order; the request refers to them by index. Their number varies, hence
             `-n`: the caller passes the key count first, as for EVAL.

  ARGV[1] the request, JSON: {lines: [{p, q, deps, qk, quota}]}: p the product's stock key index,
          q the quantity, deps the dependencies' stock key indexes, qk the quota counter's key
          index (0 = no quota), quota the per-customer limit

  Returns JSON {ok=true, lines=['fulfilled'|'out_of_stock'…]} (an empty lines table encodes as {}),
  or {ok=false, error='out_of_stock'|'missing_dependencies'|'quota_exceeded', line=0-based index}
  (no line for out_of_stock)
]]
local existing = redis.call('GET', KEYS[1])
if existing then return cjson.decode(existing).result end
local req = cjson.decode(ARGV[1])
local avail, take, qtake = {}, {}, {}
local function available(i)
  if avail[i] == nil then avail[i] = tonumber(redis.call('HGET', KEYS[i], 'available') or '0') end
  return avail[i] - (take[i] or 0)
end
local outcomes, any = {}, false
for li, line in ipairs(req.lines) do
  local need = {}
  need[line.p] = line.q
  for _, d in ipairs(line.deps) do need[d] = (need[d] or 0) + line.q end
  if available(line.p) < line.q then
    outcomes[li] = 'out_of_stock'
  else
    for i, n in pairs(need) do
      if available(i) < n then return cjson.encode({ok=false, error='missing_dependencies', line=li-1}) end
    end
    if line.qk > 0 then
      local held = tonumber(redis.call('GET', KEYS[line.qk]) or '0') + (qtake[line.qk] or 0)
      if held + line.q > line.quota then return cjson.encode({ok=false, error='quota_exceeded', line=li-1}) end
      qtake[line.qk] = (qtake[line.qk] or 0) + line.q
    end
    for i, n in pairs(need) do take[i] = (take[i] or 0) + n end
    outcomes[li] = 'fulfilled'
    any = true
  end
end
if not any then return cjson.encode({ok=false, error='out_of_stock'}) end
local stock, quota = {}, {}
for i, n in pairs(take) do
  redis.call('HINCRBY', KEYS[i], 'available', -n)
  redis.call('HINCRBY', KEYS[i], 'reserved', n)
  stock[KEYS[i]] = n
end
for i, n in pairs(qtake) do
  redis.call('INCRBY', KEYS[i], n)
  quota[KEYS[i]] = n
end
local result = cjson.encode({ok=true, lines=outcomes})
redis.call('SET', KEYS[1], cjson.encode({state='reserved', stock=stock, quota=quota, result=result}))
return result
