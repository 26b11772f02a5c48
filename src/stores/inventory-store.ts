import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';
import type { LineOutcome } from '../purchase/record.js';
import { defineCommands } from './lua/commands.js';

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

type Transition = { from: string; to: string; available: number; reserved: number; sold: number; quota: boolean };
const TRANSITIONS = {
  commit: { from: 'reserved', to: 'committed', available: 0, reserved: -1, sold: 1, quota: false },
  release: { from: 'reserved', to: 'released', available: 1, reserved: -1, sold: 0, quota: true },
  restock: { from: 'committed', to: 'restocked', available: 1, reserved: 0, sold: -1, quota: true },
} as const satisfies Record<string, Transition>;

/** Atomic stock moves: never below zero, each applied once per purchase. */
export class InventoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    defineCommands(redis);
  }

  async reserve(purchaseId: string, customerId: string, lines: ReserveLine[]): Promise<ReserveResult> {
    const { keys, req } = this.request(purchaseId, customerId, lines);
    const raw = await this.redis.reserveStock(keys.length, ...keys, JSON.stringify(req));
    const parsed = JSON.parse(raw) as ReserveResult & { lines?: LineOutcome[] | Record<string, never> };
    // cjson encodes an empty table as {}; normalise.
    if (parsed.ok) return { ok: true, lines: Array.isArray(parsed.lines) ? parsed.lines : [] };
    return parsed;
  }

  /**
   * Returns the fulfilled `lines` of a purchase whose reservation was settled (a canceled order)
   * to stock, once: 'restocked' when it moved them now, else the state the reservation has.
   */
  async restockSettled(purchaseId: string, customerId: string, lines: ReserveLine[]): Promise<string> {
    const { keys, req } = this.request(purchaseId, customerId, lines);
    return this.redis.restockSettled(keys.length, ...keys, JSON.stringify(req));
  }

  /** The reservation key first, then each stock and quota key once; lines refer to them by (1-based) index. */
  private request(purchaseId: string, customerId: string, lines: ReserveLine[]) {
    const keys: [string, ...string[]] = [this.keys.reservation(purchaseId)];
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
    return { keys, req };
  }

  /** Applies a transition once; returns the reservation's state afterwards ('none' if never reserved). */
  async transition(purchaseId: string, name: keyof typeof TRANSITIONS): Promise<string> {
    const t: Transition = TRANSITIONS[name];
    return this.redis.transitionReservation(
      this.keys.reservation(purchaseId),
      t.from,
      t.to,
      t.available,
      t.reserved,
      t.sold,
      t.quota ? '1' : '0',
    );
  }

  /** Once the purchase is terminal: nothing can move its reservation any more. */
  async settle(purchaseId: string): Promise<string> {
    return this.redis.settleReservation(this.keys.reservation(purchaseId));
  }

  /** Units of a product sold by purchases whose reservations were settled. */
  async settledUnits(productId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.stock(productId), 'settled')) ?? 0);
  }

  async quotaHeld(customerId: string, productId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.quota(customerId, productId))) ?? 0);
  }
}
