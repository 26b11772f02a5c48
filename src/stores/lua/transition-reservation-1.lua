--[[
  Moves a purchase's reservation from one state to the next, exactly once
  (commit: reserved → committed, release: reserved → released, restock: committed → restocked).

  Invariant: the stock moves, and the quota returns, only on the one call that finds the
  reservation in the from-state; every other call is a no-op that reports the current state.

  KEYS[1] the purchase's reservation (string, written by reserve-stock)
  Also touches the stock hashes and quota counters the reservation names: they are not in KEYS
  (see the loader's README).

  ARGV[1] from-state
  ARGV[2] to-state
  ARGV[3] times each stock's reserved units added to `available` (-1, 0 or 1)
  ARGV[4] the same for `reserved`
  ARGV[5] the same for `sold`
  ARGV[6] '1' when the quota the reservation holds returns, else '0'

  Returns the to-state when it moved, else the current state ('none' without a reservation)
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return 'none' end
local r = cjson.decode(raw)
if r.state ~= ARGV[1] then return r.state end
local da, dr, ds = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
for key, n in pairs(r.stock) do
  if da ~= 0 then redis.call('HINCRBY', key, 'available', da * n) end
  if dr ~= 0 then redis.call('HINCRBY', key, 'reserved', dr * n) end
  if ds ~= 0 then redis.call('HINCRBY', key, 'sold', ds * n) end
end
if ARGV[6] == '1' then
  for key, n in pairs(r.quota) do redis.call('DECRBY', key, n) end
end
r.state = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(r))
return ARGV[2]
