import { jsonValues as values, scanKeys } from './redis.js';
import { BuiltinPaymentProvider } from './adapters/builtin-provider.js';
import type { PaymentProvider } from './adapters/payments.js';
import { notificationId, orderIdFor } from './ids.js';
import type { Order, ProvisionedProduct } from './purchase/documents.js';
import { isSettled, type PurchaseRecord, type PurchaseStatus } from './purchase/record.js';
import type { Stores } from './stores/domain-stores.js';

export interface AuditReport {
  quiet: boolean;
  figures: {
    purchases: number;
    byStatus: Partial<Record<PurchaseStatus, number>>;
    orders: number;
    charges: number;
    refunds: number;
    /** Holds released before a capture (PAYMENT_CAPTURE=pivot). */
    voids: number;
    provisionedActive: number;
    needsReview: number;
    canceledOrders: number;
  };
  violations: string[];
  /** The purchases the violations name that still have a record: the ones to look at, and retry. */
  purchases: string[];
}

/**
 * Checks the contract's invariants over the stores and the payment provider's ledger. `quiet`
 * (no purchase open) makes the in-flight checks strict: nothing reserved, nothing non-terminal.
 */
export async function runAudit(
  stores: Stores,
  provider: PaymentProvider = new BuiltinPaymentProvider(stores.redis, stores.keys),
): Promise<AuditReport> {
  const { redis, keys } = stores;
  const violations: string[] = [];
  const named = new Set<string>();
  const violate = (message: string, purchaseId?: string) => {
    violations.push(message);
    if (purchaseId) named.add(purchaseId);
  };

  const purchaseIds = (await scanKeys(redis, keys.patterns.purchase)).map(keys.idFrom);
  const records = new Map<string, PurchaseRecord>();
  for (const id of purchaseIds) {
    const r = await stores.purchases.get(id);
    if (r) records.set(id, r);
  }
  // Open: not yet terminal, or an outside undo of it still being worked on.
  const open = [...records.values()].filter((r) => r.phase !== 'done' || !isSettled(r));
  const quiet = open.length === 0;
  /** Nothing of the purchase is still moving (or its record has expired): its end state can be checked. */
  const settled = (purchaseId: string) => {
    const record = records.get(purchaseId);
    return quiet || !record || isSettled(record);
  };
  const audit: Audit = { stores, records, quiet, settled, violate };
  const byStatus: AuditReport['figures']['byStatus'] = {};
  for (const r of records.values()) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;

  await auditStock(audit);
  const money = await auditMoney(audit, provider);
  const { provisionedActive, activeSold } = await auditProvisioning(audit);
  const canceledOrders = await auditOrders(audit, activeSold);

  // Purchases: terminal once quiet; a completed one has exactly one confirmation.
  let orders = 0;
  for (const r of records.values()) {
    if (r.orderId) orders++;
    if (r.phase === 'done' && (r.status === 'completed' || r.status === 'partially_fulfilled')) {
      const confirmation = await stores.notifications.get(notificationId(r.id, 'order_confirmation'));
      if (!confirmation) violate(`purchase ${r.id}: completed without an order confirmation`, r.id);
    }
  }
  const needsReview = [...records.values()].filter((r) => r.review).length;
  return {
    quiet,
    figures: {
      purchases: records.size,
      byStatus,
      orders,
      ...money,
      provisionedActive,
      needsReview,
      canceledOrders,
    },
    violations,
    purchases: [...named].filter((id) => records.has(id)),
  };
}

/** What each part of the audit reads and where it reports. */
interface Audit {
  stores: Stores;
  records: Map<string, PurchaseRecord>;
  quiet: boolean;
  /** Nothing of the purchase is still moving (or its record has expired): its end state can be checked. */
  settled(purchaseId: string): boolean;
  violate(message: string, purchaseId?: string): void;
}

async function auditStock({ stores, quiet, violate }: Audit): Promise<void> {
  const { redis, keys } = stores;
  // Stock: conserved and never negative; units sold = units in committed reservations + those settled.
  const soldByKey = new Map<string, number>();
  for (const res of await values<{ state: string; stock: Record<string, number> }>(
    redis,
    await scanKeys(redis, keys.patterns.reservation),
  )) {
    if (res.state !== 'committed') continue;
    for (const [key, n] of Object.entries(res.stock)) soldByKey.set(key, (soldByKey.get(key) ?? 0) + n);
  }
  for (const id of await stores.catalog.ids()) {
    const s = await stores.catalog.stock(id);
    if (s.available < 0 || s.reserved < 0 || s.sold < 0) violate(`stock ${id}: negative ${JSON.stringify(s)}`);
    if (s.available + s.reserved + s.sold !== s.stocked)
      violate(`stock ${id}: available+reserved+sold ≠ stocked ${JSON.stringify(s)}`);
    if (quiet && s.reserved !== 0) violate(`stock ${id}: ${s.reserved} units still reserved with no purchase open`);
    const accounted = (soldByKey.get(keys.stock(id)) ?? 0) + (await stores.inventory.settledUnits(id));
    if (accounted !== s.sold)
      violate(`stock ${id}: sold ${s.sold} but committed and settled reservations hold ${accounted}`);
  }
}

async function auditMoney({ stores, records, settled, violate }: Audit, provider: PaymentProvider) {
  // Money, the provider's ledger against ours (contract §4.4): a capture ends in an order or a refund,
  // never both, never neither; a hold ends captured or voided; nothing is held for a purchase we do not know.
  let charges = 0;
  let refunds = 0;
  let voids = 0;
  for await (const payment of provider.list()) {
    const purchaseId = payment.purchaseId;
    if (!purchaseId) continue;
    const record = records.get(purchaseId);
    if (payment.captured > 0) charges++;
    if (payment.state === 'refunded') refunds++;
    if (payment.state === 'voided') voids++;
    const refunded = payment.state === 'refunded';
    const held = payment.state === 'authorized' || payment.state === 'requires_action';
    // The order is looked up by its derived id: the purchase record may have expired by retention.
    const order = await stores.orders.get(orderIdFor(purchaseId));
    // A canceled order was refunded: it counts as neither ordered nor owed.
    const ordered = order !== undefined && order.status !== 'canceled';
    const recordedId = record?.payment.paymentId;
    // A running purchase records the id of a provider that derives it with the payment step's outcome.
    if (record && recordedId !== payment.id && (recordedId || settled(purchaseId)))
      violate(`purchase ${purchaseId}: provider payment ${payment.id} is not the recorded one`, purchaseId);
    if (!record && !order && (held || payment.state === 'captured'))
      violate(`payment ${payment.id}: ${payment.state} for purchase ${purchaseId}, which we do not know`);
    if (order?.status === 'canceled' && !refunded)
      violate(`order ${order.id}: canceled but its charge was not refunded`, purchaseId);
    if (ordered && refunded) violate(`purchase ${purchaseId}: ordered and refunded`, purchaseId);
    if (ordered && payment.captured !== order.total.amount)
      violate(`purchase ${purchaseId}: captured ${payment.captured} for an order of ${order.total.amount}`, purchaseId);
    if (!settled(purchaseId)) continue;
    if (payment.state === 'captured' && !ordered)
      violate(`purchase ${purchaseId}: charged with no order and no refund`, purchaseId);
    if (held)
      violate(`purchase ${purchaseId}: its payment is still ${payment.state}, neither captured nor voided`, purchaseId);
  }
  return { charges, refunds, voids };
}

async function auditProvisioning({ stores, settled, violate }: Audit) {
  const { redis, keys } = stores;
  // Provisioning: nothing active without a placed order.
  const provisioned = await values<
    Pick<ProvisionedProduct, 'id' | 'purchaseId' | 'productId' | 'dependencyOf' | 'status'>
  >(redis, await scanKeys(redis, keys.patterns.provisioned));
  let provisionedActive = 0;
  /** Per purchase, its active units of each product it sold (dependencies apart). */
  const activeSold = new Map<string, Map<string, number>>();
  for (const unit of provisioned) {
    if (unit.status !== 'active') continue;
    provisionedActive++;
    if (unit.dependencyOf === null) {
      const byProduct = activeSold.get(unit.purchaseId) ?? new Map<string, number>();
      byProduct.set(unit.productId, (byProduct.get(unit.productId) ?? 0) + 1);
      activeSold.set(unit.purchaseId, byProduct);
    }
    const order = await stores.orders.get(orderIdFor(unit.purchaseId));
    if (!order && settled(unit.purchaseId)) violate(`provisioned ${unit.id}: active with no order`, unit.purchaseId);
    if (order?.status === 'canceled' && settled(unit.purchaseId))
      violate(`provisioned ${unit.id}: active but its order ${order.id} is canceled`, unit.purchaseId);
  }
  return { provisionedActive, activeSold };
}

async function auditOrders({ stores, settled, violate }: Audit, activeSold: Map<string, Map<string, number>>) {
  const { redis, keys } = stores;
  // Orders. A placed one has every unit it sold in the Product Store, active (a write lost in a failover
  // can take one). A canceled one (v1.1) is refunded exactly once (one refund per purchase key, checked
  // above with the charges), nothing of it is active (above), and its units are back in stock.
  let canceledOrders = 0;
  for (const order of await values<Pick<Order, 'id' | 'purchaseId' | 'status' | 'items'>>(
    redis,
    await scanKeys(redis, keys.patterns.order),
  )) {
    if (order.status === 'placed' && settled(order.purchaseId)) {
      const sold = new Map<string, number>();
      for (const item of order.items) sold.set(item.productId, (sold.get(item.productId) ?? 0) + item.quantity);
      for (const [productId, quantity] of sold) {
        const active = activeSold.get(order.purchaseId)?.get(productId) ?? 0;
        if (active < quantity)
          violate(`order ${order.id}: ${active} of its ${quantity} ${productId} units provisioned`, order.purchaseId);
      }
    }
    if (order.status !== 'canceled') continue;
    canceledOrders++;
    const reservation = JSON.parse((await redis.get(keys.reservation(order.purchaseId))) ?? '{}') as { state?: string };
    if (reservation.state !== 'restocked')
      violate(`order ${order.id}: canceled but its units are not back in stock`, order.purchaseId);
  }
  return canceledOrders;
}
