import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';

export const IDEMPOTENCY_TTL_S = 24 * 3_600;

export type Claim = { status: 'new' } | { status: 'replay'; purchaseId: string } | { status: 'conflict' };

/** Idempotency keys, scoped per customer, kept 24 h. */
export class IdempotencyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** The key and value that claim `key` for `purchaseId` (written by PurchaseIntake.accept). */
  claimOf(
    customerId: string,
    key: string,
    bodyHash: string,
    purchaseId: string,
  ): { key: string; value: string; ttlS: number } {
    return {
      key: this.keys.idempotency(customerId, key),
      value: JSON.stringify({ bodyHash, purchaseId }),
      ttlS: IDEMPOTENCY_TTL_S,
    };
  }

  /** What an earlier claim means for a request with this body: the same purchase again, or a misuse of the key. */
  static answer(earlier: string, bodyHash: string): Exclude<Claim, { status: 'new' }> {
    const first = JSON.parse(earlier) as { bodyHash: string; purchaseId: string };
    return first.bodyHash === bodyHash ? { status: 'replay', purchaseId: first.purchaseId } : { status: 'conflict' };
  }

  /** The claim an earlier request made on `key`, if any. */
  async earlier(customerId: string, key: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.idempotency(customerId, key))) ?? undefined;
  }
}
