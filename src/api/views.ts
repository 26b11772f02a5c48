import { reviewStatus, type PurchaseRecord } from '../purchase/record.js';
import type { ProvisionedProduct } from '../purchase/documents.js';
import type { CatalogEntry } from '../stores/catalog-store.js';
import { STEP_NAMES, type StepName } from '../saga/saga.js';

/**
 * A step as the customer sees it; while its undo is still being worked on (an outside system
 * that is slow to confirm), or once that failed for good, the undo's progress shows with it.
 */
function stepView(r: PurchaseRecord, name: StepName) {
  const undo = r.undos[name];
  const shown = undo && undo.status !== 'done' ? { undo: { status: undo.status, attempts: undo.attempts } } : {};
  const status = r.steps[name] ?? 'pending';
  const waiting = status === 'waiting' && r.waiting?.step === name ? { until: r.waiting.until } : {};
  return { name, status, ...waiting, ...shown };
}

/** The money; the action the customer must take shows only while it is awaited. */
function paymentView({ payment: p }: PurchaseRecord) {
  const action =
    p.status === 'requires_action' && p.nextAction
      ? { nextAction: p.nextAction, actionExpiresAt: p.actionExpiresAt }
      : {};
  return { status: p.status, amount: p.amount, currency: p.currency, ...action };
}

/** The customer's view of a purchase (GET /v1/purchases/:id), per the contract. */
export function purchaseView(r: PurchaseRecord) {
  const plan = r.plan;
  const line = (
    l: { productId: string; quantity: number; customization?: Record<string, unknown> },
    price?: number,
  ) => ({
    productId: l.productId,
    quantity: l.quantity,
    ...(price === undefined ? {} : { unitPrice: price }),
    customization: l.customization ?? {},
  });
  const outcome = (i: number) => r.allocation?.[i] ?? 'fulfilled';
  const items = plan
    ? plan.lines.flatMap((l, i) =>
        outcome(i) === 'fulfilled' ? [{ ...line(l, l.unitPrice), ...(l.free ? { free: true } : {}) }] : [],
      )
    : r.request.items.map((l) => line(l));
  const missing = plan ? plan.lines.filter((_, i) => outcome(i) === 'out_of_stock').map((l) => line(l)) : [];
  const backorder = r.request.outOfStock === 'backorder';
  return {
    id: r.id,
    status: r.status,
    items,
    removed: backorder ? [] : missing,
    backordered: backorder ? missing : [],
    steps: STEP_NAMES.map((name) => stepView(r, name)),
    payment: paymentView(r),
    ...(r.orderId ? { orderId: r.orderId } : {}),
    ...(r.error && r.status === 'failed'
      ? { error: { code: r.error.code, detail: r.error.detail, ...(r.error.step ? { step: r.error.step } : {}) } }
      : {}),
    ...(plan ? { appliedRules: plan.appliedRules } : {}),
    // A compensation that could not complete: an operator must finish it (see logs and Bull Board).
    ...(r.review ? { review: { status: reviewStatus(r)!, reason: r.review } } : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export const statusUrl = (id: string) => `/v1/purchases/${id}`;

/** A document without the owner field the store keeps for indexing (the customer knows who they are). */
export function withoutOwner<T extends { customerId: string }>(doc: T): Omit<T, 'customerId'> {
  const { customerId: _, ...rest } = doc;
  return rest;
}

/**
 * A product as customers see it: the fields named here and nothing else, so what the catalog adds for
 * the operator (a partner's address, its secret's name, its limits) never reaches them.
 */
export function productView(p: CatalogEntry) {
  return {
    id: p.id,
    name: p.name,
    ...(p.description === undefined ? {} : { description: p.description }),
    price: p.price,
    available: p.available,
    ...(p.customization === undefined ? {} : { customization: p.customization }),
    ...(p.quotaPerCustomer === undefined ? {} : { quotaPerCustomer: p.quotaPerCustomer }),
    dependencies: p.dependencies,
  };
}

/** A Product Store unit as its customer sees it: of its partner's standing, the status and the reference only. */
export function unitView(u: ProvisionedProduct) {
  const { customerId: _, integration, ...rest } = u;
  return { ...rest, integration: integration && { status: integration.status, externalRef: integration.externalRef } };
}
