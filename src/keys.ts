/**
 * Every Redis key the domain stores use, built in one place under one prefix.
 * (BullMQ keeps its own keys under `${prefix}:q`.) For Redis Cluster use a
 * hash-tagged prefix such as `{ps}` so multi-key scripts stay in one slot.
 */
export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  const k = (...parts: string[]) => [prefix, ...parts].join(':');
  return {
    queuePrefix: k('q'),
    /** Pub/sub: terminal outcomes (every gateway listens) and every change (only while someone streams). */
    events: k('events'),
    progress: k('progress'),
    productIds: k('products'),
    product: (id: string) => k('product', id),
    stock: (id: string) => k('stock', id),
    reservation: (purchaseId: string) => k('reservation', purchaseId),
    quota: (customerId: string, productId: string) => k('quota', customerId, productId),
    purchase: (id: string) => k('purchase', id),
    purchasesByCustomer: (customerId: string) => k('purchases', customerId),
    purchasesOpen: k('purchases-open'),
    /** Purchases flagged for review and not yet resolved (sorted set by flag time): the operator's queue. */
    purchasesInReview: k('purchases-review'),
    idempotency: (customerId: string, key: string) => k('idem', customerId, key),
    providerCharge: (key: string) => k('provider', 'charge', key),
    providerRefund: (key: string) => k('provider', 'refund', key),
    order: (id: string) => k('order', id),
    ordersByCustomer: (customerId: string) => k('orders', customerId),
    provisioned: (id: string) => k('provisioned', id),
    provisionedByCustomer: (customerId: string) => k('provisioned-by', customerId),
    notification: (id: string) => k('notification', id),
    notificationsByCustomer: (customerId: string) => k('notifications', customerId),
    fault: (point: string) => k('fault', point),
    faultsArmed: k('faults'),
    workerHeartbeats: k('workers'),
    rateLimit: k('rl'),
    /** The auth role's signing keys (hash: one JSON key pair per field), shared by every auth process. */
    authKeys: k('auth', 'keys'),
    /** The secret list cursors are signed with, shared by every gateway. */
    cursorSecret: k('cursor-secret'),
    /** SCAN patterns for the audit, which has to look at everything. */
    patterns: {
      purchase: k('purchase', '*'),
      reservation: k('reservation', '*'),
      providerCharge: k('provider', 'charge', '*'),
      provisioned: k('provisioned', '*'),
      order: k('order', '*'),
    },
    idFrom: (key: string) => key.slice(key.lastIndexOf(':') + 1),
  } as const;
}
