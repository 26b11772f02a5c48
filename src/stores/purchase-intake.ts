import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';
import type { Notification } from '../purchase/documents.js';
import type { PurchaseRecord } from '../purchase/record.js';
import { acceptPurchase, defineCommands } from './lua/commands.js';
import { encode } from './purchase-store.js';

export interface Intake {
  record: PurchaseRecord;
  /** The Idempotency-Key claim, when the request has one. */
  claim?: { key: string; value: string; ttlS: number };
  /** The acknowledgement notification of an asynchronous purchase. */
  acknowledgement?: Notification;
}

/**
 * The gateway's write for a new purchase, atomic and in one round trip: it claims the
 * Idempotency-Key, creates the record (indexed as open, for the watchdog) and stores the
 * acknowledgement. When an earlier request holds the key, nothing is written.
 */
export class PurchaseIntake {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Retention in seconds (0 = keep) of notifications and of the customer's purchase index entries. */
    private readonly retentionS = 0,
  ) {
    defineCommands(redis);
  }

  /** The earlier claim's value when the key was already taken, else undefined (accepted). */
  async accept({ record, claim, acknowledgement: ack }: Intake): Promise<string | undefined> {
    const key = this.keys.purchase(record.id);
    // An absent key is the record's own (accept-purchase-6.lua): '' would hash to another slot.
    const earlier = await acceptPurchase(this.redis, {
      record: key,
      openSet: this.keys.purchasesOpen(this.keys.shardOf(record.id)),
      claim: claim?.key ?? key,
      acknowledgement: ack ? this.keys.notification(ack.id) : key,
      acknowledgements: ack ? this.keys.notificationsByCustomer(ack.customerId) : key,
      purchases: this.keys.purchasesByCustomer(record.customerId),
      id: record.id,
      createdAtMs: Date.parse(record.createdAt),
      claimValue: claim?.value ?? '',
      claimTtlS: claim?.ttlS ?? 0,
      acknowledgementJson: ack ? JSON.stringify(ack) : '',
      acknowledgementId: ack?.id ?? '',
      retentionS: this.retentionS,
      fields: encode(record),
    });
    return earlier ?? undefined;
  }

  /** True while the purchase is accepted and its first step (`firstStep`) is still pending: its first job may never have arrived. */
  async unstarted(id: string, firstStep: string): Promise<boolean> {
    const [status, first] = await this.redis.hmget(this.keys.purchase(id), 'status', `step:${firstStep}`);
    return status === 'accepted' && first === 'pending';
  }

  /** Takes back an accepted purchase that could not be handed on: nothing of it stays behind. */
  async withdraw({ record, claim, acknowledgement: ack }: Intake): Promise<void> {
    const tx = this.redis
      .multi()
      .del(this.keys.purchase(record.id))
      .zrem(this.keys.purchasesOpen(this.keys.shardOf(record.id)), record.id)
      .zrem(this.keys.purchasesByCustomer(record.customerId), record.id);
    if (claim) tx.del(claim.key);
    if (ack) tx.del(this.keys.notification(ack.id)).zrem(this.keys.notificationsByCustomer(ack.customerId), ack.id);
    await tx.exec();
  }
}
