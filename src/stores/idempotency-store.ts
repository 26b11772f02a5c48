import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';

export const IDEMPOTENCY_TTL_S = 24 * 3_600;

export type Claim = { status: 'new' } | { status: 'replay'; purchaseId: string } | { status: 'conflict' };

/** Idempotency keys, scoped per customer, kept 24 h. */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Atomically claims `key` for `purchaseId`; a concurrent or later duplicate sees the first claim. */
  async claim(customerId: string, key: string, bodyHash: string, purchaseId: string): Promise<Claim> {
    const redisKey = this.keys.idempotency(customerId, key);
    const value = JSON.stringify({ bodyHash, purchaseId });
    // SET NX GET (Redis 7): claims the key, or answers with the first claim, in one command.
    const existing = (await this.redis.call('SET', redisKey, value, 'EX', IDEMPOTENCY_TTL_S, 'NX', 'GET')) as string | null;
    if (existing === null) return { status: 'new' };
    const first = JSON.parse(existing) as { bodyHash: string; purchaseId: string };
    return first.bodyHash === bodyHash ? { status: 'replay', purchaseId: first.purchaseId } : { status: 'conflict' };
  }

  /** Gives the key back when the purchase it was claimed for could not be accepted. */
  async release(customerId: string, key: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(customerId, key));
  }
}
