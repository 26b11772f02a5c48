import { crc32 } from 'node:zlib';

/**
 * Every Redis key the system uses, built in one place under one prefix.
 *
 * The shard layout (README: "The shard layout"). A purchase lives on one of `shards` logical
 * shards, fixed for the life of the data; each shard is one hash tag, so a Redis Cluster keeps
 * all of a shard in one slot and every multi-key script, MULTI and BullMQ flow of a purchase
 * stays in it:
 *   shard s  `{<prefix>:<s>}:…`   the purchase, its customer's indexes and Idempotency-Keys,
 *                                 its orders, units, notifications, provider charges, the
 *                                 shard's open index, heartbeats, event channels and all of its BullMQ queues
 *                                 (`{<prefix>:<s>}:q:<queue>:…`).
 *   stock    `{<prefix>:inv}:…`   products, stock, quotas and reservations: one slot, so the
 *                                 all-or-nothing multi-product reservation stays one script.
 *   faults   `{<prefix>:ctl}:…`   armed fault points (FAULT_INJECTION), armed in one MULTI.
 *   untagged `<prefix>:…`         rate limits (spread over every slot), auth keys, the cursor
 *                                 secret: one key per command.
 * Each shard publishes its purchases' events on shard channels of its own tag (SPUBLISH).
 * A customer's purchases all go to the shard `shardOfCustomer` picks, and every id derived from
 * a purchase carries that shard (ids.ts), so any key can be found from an id alone.
 *
 * With one shard and no cluster the layout is the one before sharding (`<prefix>:…`, BullMQ under
 * `<prefix>:q`), so a running single-server deployment keeps its data.
 */
export type Keys = ReturnType<typeof createKeys>;

export interface KeyLayout {
  /** Logical shards; fixed once data exists. */
  shards: number;
  /** Hash tags even with one shard (always on a cluster). */
  tagged?: boolean;
}

/** The shard a customer's purchases live on: a stable hash of the customer id. */
export function shardOfCustomer(customerId: string, shards: number): number {
  return shards === 1 ? 0 : crc32(customerId) % shards;
}

/** The shard number every id derived from a purchase carries after its `xxx_` type (ids.ts), or undefined. */
export function shardInId(id: string): number | undefined {
  const m = /^[a-z]{3}_([0-9a-f]{2})/.exec(id);
  return m ? parseInt(m[1]!, 16) : undefined;
}

export function createKeys(prefix: string, layout: KeyLayout = { shards: 1 }) {
  const { shards } = layout;
  const tagged = layout.tagged ?? shards > 1;
  const all = Array.from({ length: shards }, (_, s) => s);
  /** The hash tag of shard `s` (the whole prefix of its keys). */
  const tag = (s: number) => (tagged ? `{${prefix}:${s}}` : prefix);
  const inv = tagged ? `{${prefix}:inv}` : prefix;
  // SCAN's glob treats braces as plain characters.
  const anyShard = tagged ? `{${prefix}:*}` : prefix;
  const k = (...parts: string[]) => [prefix, ...parts].join(':');
  const sk = (s: number, ...parts: string[]) => [tag(s), ...parts].join(':');
  const ik = (...parts: string[]) => [inv, ...parts].join(':');
  const ck = (...parts: string[]) => [tagged ? `{${prefix}:ctl}` : prefix, ...parts].join(':');
  /** The shard of an id derived from a purchase; an id without one (not ours) falls back to a hash. */
  const shardOf = (id: string) => {
    const s = shardInId(id);
    return s !== undefined ? s % shards : shardOfCustomer(id, shards);
  };
  const ofCustomer = (customerId: string) => shardOfCustomer(customerId, shards);
  return {
    prefix,
    shards,
    tagged,
    /** Every shard number, 0…shards-1. */
    allShards: all,
    tag,
    shardOf,
    shardOfCustomer: ofCustomer,
    /** BullMQ's prefix for shard `s`'s queues. */
    queuePrefix: (s: number) => sk(s, 'q'),
    /** Pub/sub without shards: terminal outcomes (every gateway listens) and every change (only while someone streams). */
    events: k('events'),
    progress: k('progress'),
    /**
     * Shard `s`'s channels. Hash-tagged, they are shard channels (SPUBLISH/SSUBSCRIBE): a message
     * stays on its slot's master and replicas instead of crossing the whole cluster's bus.
     */
    outcomeChannel: (s: number) => (tagged ? sk(s, 'events') : k('events')),
    progressChannel: (s: number) => (tagged ? sk(s, 'progress') : k('progress')),
    productIds: ik('products'),
    product: (id: string) => ik('product', id),
    stock: (id: string) => ik('stock', id),
    reservation: (purchaseId: string) => ik('reservation', purchaseId),
    quota: (customerId: string, productId: string) => ik('quota', customerId, productId),
    purchase: (id: string) => sk(shardOf(id), 'purchase', id),
    purchasesByCustomer: (customerId: string) => sk(ofCustomer(customerId), 'purchases', customerId),
    /** Shard `s`'s open purchases (the watchdog's index). */
    purchasesOpen: (s: number) => sk(s, 'purchases-open'),
    /** Shard `s`'s purchases flagged for review and not yet resolved (sorted set by flag time): the operator's queue. */
    purchasesInReview: (s: number) => sk(s, 'purchases-review'),
    idempotency: (customerId: string, key: string) => sk(ofCustomer(customerId), 'idem', customerId, key),
    /** The built-in provider's one-time action link (its secret → the payment), until it is used. */
    providerAction: (secret: string) => k('provider-action', secret),
    /** The built-in payment provider's payment (its ledger lives in Redis, on the purchase's shard). */
    providerPayment: (paymentId: string) => sk(shardOf(paymentId), 'provider', 'payment', paymentId),
    order: (id: string) => sk(shardOf(id), 'order', id),
    ordersByCustomer: (customerId: string) => sk(ofCustomer(customerId), 'orders', customerId),
    provisioned: (id: string) => sk(shardOf(id), 'provisioned', id),
    provisionedByCustomer: (customerId: string) => sk(ofCustomer(customerId), 'provisioned-by', customerId),
    notification: (id: string) => sk(shardOf(id), 'notification', id),
    notificationsByCustomer: (customerId: string) => sk(ofCustomer(customerId), 'notifications', customerId),
    /** Fault points (FAULT_INJECTION only) on a tag of their own: arming one is a MULTI over two keys. */
    fault: (point: string) => ck('fault', point),
    faultsArmed: ck('faults'),
    /**
     * Shard `s`'s replication fence: the gateway writes it on its replication connection just before a
     * WAIT there, so that WAIT covers every write made on the shard's master before it.
     */
    replicationFence: (s: number) => sk(s, 'wait-fence'),
    /** Shard `s`'s workers heartbeats: a process beats on every shard it serves. */
    workerHeartbeats: (s: number) => sk(s, 'workers'),
    rateLimit: k('rl'),
    /** A Stripe event already taken (webhook dedupe, 30 days: as long as Stripe keeps events). */
    stripeEvent: (eventId: string) => k('stripe-event', eventId),
    /** The auth role's signing keys (hash: one JSON key pair per field), shared by every auth process. */
    authKeys: k('auth', 'keys'),
    /** The secret list cursors are signed with, shared by every gateway. */
    cursorSecret: k('cursor-secret'),
    /** Each workers process's partner circuits (hash: `<process> <partner>` → JSON), for the console. */
    partnerStatus: k('partner-status'),
    /** SCAN patterns over every shard for the audit, which has to look at everything (on every master). */
    patterns: {
      purchase: [anyShard, 'purchase', '*'].join(':'),
      reservation: ik('reservation', '*'),
      providerPayment: [anyShard, 'provider', 'payment', '*'].join(':'),
      provisioned: [anyShard, 'provisioned', '*'].join(':'),
      order: [anyShard, 'order', '*'].join(':'),
    },
    idFrom: (key: string) => key.slice(key.lastIndexOf(':') + 1),
  } as const;
}

/** The key layout a configuration asks for: REDIS_SHARDS shards, always hash-tagged on a cluster. */
export function keysFor(config: { KEY_PREFIX: string; REDIS_SHARDS: number; REDIS_CLUSTER_NODES?: unknown }): Keys {
  return createKeys(config.KEY_PREFIX, {
    shards: config.REDIS_SHARDS,
    tagged: config.REDIS_SHARDS > 1 || !!config.REDIS_CLUSTER_NODES,
  });
}
