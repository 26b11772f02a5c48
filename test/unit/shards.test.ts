import { describe, expect, it } from 'vitest';
import { builtinPaymentId, newPurchaseId, notificationId, orderIdFor, unitId } from '../../src/ids.js';
import { createKeys, keysFor, shardInId, shardOfCustomer } from '../../src/keys.js';

/** The hash tag Redis Cluster hashes a key by: the first non-empty `{…}`, else the whole key. */
const tagOf = (key: string) => /\{([^}]+)\}/.exec(key)?.[1] ?? key;

describe('the shard layout (keys.ts, ids.ts)', () => {
  const keys = createKeys('ps', { shards: 16 });

  it('puts every key of a purchase, its customer and its shard queues under one hash tag', () => {
    const customer = 'cust-42';
    const shard = keys.shardOfCustomer(customer);
    const id = newPurchaseId(shard);
    expect(shardInId(id)).toBe(shard);
    const unit = unitId(id, 0, 0);
    const all = [
      keys.purchase(id),
      keys.purchasesByCustomer(customer),
      keys.purchasesOpen(keys.shardOf(id)),
      keys.idempotency(customer, 'k1'),
      keys.order(orderIdFor(id)),
      keys.ordersByCustomer(customer),
      keys.provisioned(unit),
      keys.provisionedByCustomer(customer),
      keys.notification(notificationId(id, 'order_confirmation')),
      keys.notificationsByCustomer(customer),
      keys.providerPayment(builtinPaymentId(id)),
      `${keys.queuePrefix(shard)}:orchestrator:wait`,
      keys.workerHeartbeats(shard),
      keys.outcomeChannel(shard),
      keys.progressChannel(shard),
    ];
    expect(new Set(all.map(tagOf))).toEqual(new Set([`ps:${shard}`]));
  });

  it('keeps the stock, quotas and reservations of every purchase on one tag of their own', () => {
    const tags = [
      keys.stock('a'),
      keys.stock('b'),
      keys.quota('c1', 'a'),
      keys.reservation(newPurchaseId(3)),
      keys.productIds,
    ].map(tagOf);
    expect(new Set(tags)).toEqual(new Set(['ps:inv']));
  });

  it('spreads customers over every shard', () => {
    const seen = new Set(Array.from({ length: 2_000 }, (_, i) => shardOfCustomer(`cust-${i}`, 16)));
    expect(seen.size).toBe(16);
  });

  it('keeps the keys of before sharding with one shard and no cluster', () => {
    const legacy = createKeys('ps');
    const id = newPurchaseId();
    expect(legacy.purchase(id)).toBe(`ps:purchase:${id}`);
    expect(legacy.queuePrefix(0)).toBe('ps:q');
    expect(legacy.purchasesOpen(0)).toBe('ps:purchases-open');
    expect(legacy.stock('a')).toBe('ps:stock:a');
    expect(legacy.outcomeChannel(0)).toBe('ps:events');
    // On a cluster even one shard is tagged: untagged keys would scatter over the slots.
    expect(keysFor({ KEY_PREFIX: 'ps', REDIS_SHARDS: 1, REDIS_CLUSTER_NODES: [{}] }).purchase(id)).toBe(
      `{ps:0}:purchase:${id}`,
    );
  });
});
