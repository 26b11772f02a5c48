--[[
  Returns to stock the units of a purchase whose reservation was already settled (it completed,
  and its order is now canceled): the restock of a settled sale.

  Each line gives back its product and each dependency (its quantity of each): `available` up,
  `sold` and `settled` down, and the per-customer quota it held returns. The reservation key,
  gone since the purchase settled, is written back as `restocked` (with what moved), kept: it is
  the marker that makes this happen once.

  Invariant: applied at most once per purchase; a reservation still there (not yet settled: the
  ordinary restock applies) or a marker already written leaves everything untouched.

  KEYS[1]    the purchase's reservation (string)
  KEYS[2…]   every stock hash and quota counter the request names, each once; the request refers
             to them by index. Their number varies, hence `-n`: the caller passes the key count first.

  ARGV[1] the request, JSON: {lines: [{p, q, deps, qk}]}: p the product's stock key index, q the
          quantity, deps the dependencies' stock key indexes, qk the quota counter's key index (0 = none)

  Returns 'restocked' when it moved the units now, else the state the reservation already has
]]
local existing = redis.call('GET', KEYS[1])
if existing then return cjson.decode(existing).state end
local req = cjson.decode(ARGV[1])
local stock, quota = {}, {}
for _, line in ipairs(req.lines) do
  stock[line.p] = (stock[line.p] or 0) + line.q
  for _, d in ipairs(line.deps) do stock[d] = (stock[d] or 0) + line.q end
  if line.qk > 0 then quota[line.qk] = (quota[line.qk] or 0) + line.q end
end
local moved, returned = {}, {}
for i, n in pairs(stock) do
  redis.call('HINCRBY', KEYS[i], 'available', n)
  redis.call('HINCRBY', KEYS[i], 'sold', -n)
  redis.call('HINCRBY', KEYS[i], 'settled', -n)
  moved[KEYS[i]] = n
end
for i, n in pairs(quota) do
  local held = tonumber(redis.call('GET', KEYS[i]) or '0')
  local back = math.min(held, n)
  if back > 0 then redis.call('DECRBY', KEYS[i], back) end
  returned[KEYS[i]] = back
end
redis.call('SET', KEYS[1], cjson.encode({state='restocked', stock=moved, quota=returned, settledBefore=true}))
return 'restocked'
