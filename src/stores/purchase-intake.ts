import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { luaScript } from '../lua.js';
import type { Notification } from './domain-stores.js';
import { encode, fieldArgs, type PurchaseRecord } from './purchase-store.js';

/*
 * KEYS: record, open index, idempotency key ('' without one), acknowledgement, its customer index ('' without one),
 *       the customer's purchase index
 * ARGV: purchase id, created-at score, claim value, claim ttl s, acknowledgement json, its id, retention s (0 = keep),
 *       then the record's field/value pairs.
 * Returns the earlier claim's value when the key was taken (nothing written), else false.
 */
const ACCEPT = luaScript(`
if KEYS[3] ~= '' then
  local earlier = redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4], 'NX', 'GET')
  if earlier then return earlier end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], 'NX', ARGV[2], ARGV[1])
if tonumber(ARGV[7]) > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[6], 0, tonumber(ARGV[2]) - tonumber(ARGV[7]) * 1000) end
if KEYS[4] ~= '' then
  local retention = tonumber(ARGV[7])
  if retention > 0 then redis.call('SET', KEYS[4], ARGV[5], 'EX', retention, 'NX') else redis.call('SET', KEYS[4], ARGV[5], 'NX') end
  redis.call('ZADD', KEYS[5], 'NX', ARGV[2], ARGV[6])
  if retention > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[5], 0, tonumber(ARGV[2]) - retention * 1000) end
end
return false
`);

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
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** Retention in seconds (0 = keep) of notifications and of the customer's purchase index entries. */
    private readonly retentionS = 0,
  ) {}

  /** The earlier claim's value when the key was already taken, else undefined (accepted). */
  async accept({ record, claim, acknowledgement: ack }: Intake): Promise<string | undefined> {
    const keys = [
      this.keys.purchase(record.id),
      this.keys.purchasesOpen,
      claim?.key ?? '',
      ack ? this.keys.notification(ack.id) : '',
      ack ? this.keys.notificationsByCustomer(ack.customerId) : '',
      this.keys.purchasesByCustomer(record.customerId),
    ];
    const score = Date.parse(record.createdAt);
    const args = fieldArgs(encode(record), [record.id, score, claim?.value ?? '', claim?.ttlS ?? 0, ack ? JSON.stringify(ack) : '', ack?.id ?? '', this.retentionS]);
    const earlier = (await ACCEPT(this.redis, keys, args)) as string | null;
    return earlier ?? undefined;
  }

  /** Takes back an accepted purchase that could not be handed on: nothing of it stays behind. */
  async withdraw({ record, claim, acknowledgement: ack }: Intake): Promise<void> {
    const tx = this.redis.multi().del(this.keys.purchase(record.id)).zrem(this.keys.purchasesOpen, record.id).zrem(this.keys.purchasesByCustomer(record.customerId), record.id);
    if (claim) tx.del(claim.key);
    if (ack) tx.del(this.keys.notification(ack.id)).zrem(this.keys.notificationsByCustomer(ack.customerId), ack.id);
    await tx.exec();
  }
}
