import type { Redis } from 'ioredis';
import { luaScript } from '../lua.js';
import type { Keys } from '../keys.js';
import type { LineOutcome } from '../purchase/record.js';

/** One line of a reservation request: the product, its dependencies and its quota. */
export interface ReserveLine {
  productId: string;
  quantity: number;
  dependencies: string[];
  quotaPerCustomer?: number;
}

export type ReserveResult =
  | { ok: true; lines: LineOutcome[] }
  | { ok: false; error: 'out_of_stock' | 'missing_dependencies' | 'quota_exceeded'; line?: number };

/*
 * Reserve: all-or-nothing per line, atomic for the whole purchase. A line takes its
 * product and each dependency (quantity units each) or is out of stock; a missing
 * dependency or an exceeded quota rejects the purchase. The reservation is written
 * once per purchase, so a re-run returns the first answer instead of reserving twice.
 * KEYS: reservation, stock keys…, quota keys…   ARGV: request JSON
 */
const RESERVE = luaScript(`
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
`);

/*
 * Moves a reservation between states exactly once; every other call is a no-op
 * that reports the current state. ARGV: from-state, to-state, then stock deltas
 * per field as {available, reserved, sold} multipliers, and whether quota returns.
 */
const TRANSITION = luaScript(`
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
`);

/*
 * Settles a finished purchase's reservation: its committed units move to the stock's
 * `settled` count and the reservation goes, so reservations do not pile up forever.
 * A reservation still `reserved` is left for the audit to flag. Returns the state it had.
 */
const SETTLE = luaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 'none' end
local r = cjson.decode(raw)
if r.state == 'reserved' then return r.state end
if r.state == 'committed' then
  for key, n in pairs(r.stock) do redis.call('HINCRBY', key, 'settled', n) end
end
redis.call('DEL', KEYS[1])
return r.state
`);

type Transition = { from: string; to: string; available: number; reserved: number; sold: number; quota: boolean };
const TRANSITIONS = {
  commit: { from: 'reserved', to: 'committed', available: 0, reserved: -1, sold: 1, quota: false },
  release: { from: 'reserved', to: 'released', available: 1, reserved: -1, sold: 0, quota: true },
  restock: { from: 'committed', to: 'restocked', available: 1, reserved: 0, sold: -1, quota: true },
} as const satisfies Record<string, Transition>;

/** Atomic stock moves: never below zero, each applied once per purchase. */
export class InventoryStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async reserve(purchaseId: string, customerId: string, lines: ReserveLine[]): Promise<ReserveResult> {
    const keys: string[] = [this.keys.reservation(purchaseId)];
    const index = (key: string) => {
      let i = keys.indexOf(key);
      if (i < 0) i = keys.push(key) - 1;
      return i + 1; // Lua arrays are 1-based
    };
    const req = {
      lines: lines.map((l) => ({
        p: index(this.keys.stock(l.productId)),
        q: l.quantity,
        deps: l.dependencies.map((d) => index(this.keys.stock(d))),
        qk: l.quotaPerCustomer ? index(this.keys.quota(customerId, l.productId)) : 0,
        quota: l.quotaPerCustomer ?? 0,
      })),
    };
    const raw = (await RESERVE(this.redis, keys, [JSON.stringify(req)])) as string;
    const parsed = JSON.parse(raw) as ReserveResult & { lines?: LineOutcome[] | Record<string, never> };
    // cjson encodes an empty table as {}; normalise.
    if (parsed.ok) return { ok: true, lines: Array.isArray(parsed.lines) ? parsed.lines : [] };
    return parsed;
  }

  /** Applies a transition once; returns the reservation's state afterwards ('none' if never reserved). */
  async transition(purchaseId: string, name: keyof typeof TRANSITIONS): Promise<string> {
    const t: Transition = TRANSITIONS[name];
    return (await TRANSITION(this.redis, [this.keys.reservation(purchaseId)], [t.from, t.to, t.available, t.reserved, t.sold, t.quota ? '1' : '0'])) as string;
  }

  /** Once the purchase is terminal: nothing can move its reservation any more. */
  async settle(purchaseId: string): Promise<string> {
    return (await SETTLE(this.redis, [this.keys.reservation(purchaseId)], [])) as string;
  }

  /** Units of a product sold by purchases whose reservations were settled. */
  async settledUnits(productId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.stock(productId), 'settled')) ?? 0);
  }

  async quotaHeld(customerId: string, productId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.quota(customerId, productId))) ?? 0);
  }
}
