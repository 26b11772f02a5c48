--[[
  Settles a finished purchase's reservation, so reservations do not pile up forever.

  A committed reservation's units move to each stock's `settled` count and the reservation
  goes; a released or restocked one just goes; one still `reserved` is left for the audit to
  flag; the marker restock-settled leaves (`settledBefore`) stays: it is what makes the restock
  of a canceled order's units happen once.

  Invariant: a reservation is settled at most once (it is gone afterwards).

  KEYS[1] the purchase's reservation (string, written by reserve-stock)
  Also touches the stock hashes the reservation names: they are not in KEYS (see the loader's
  README).

  ARGV none

  Returns the state the reservation had ('none' without one)
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return 'none' end
local r = cjson.decode(raw)
if r.state == 'reserved' or r.settledBefore then return r.state end
if r.state == 'committed' then
  for key, n in pairs(r.stock) do redis.call('HINCRBY', key, 'settled', n) end
end
redis.call('DEL', KEYS[1])
return r.state
