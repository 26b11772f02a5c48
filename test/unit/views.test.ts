import { describe, expect, it } from 'vitest';
import { purchaseView, statusUrl, withoutOwner } from '../../src/api/views.js';
import type { PlannedLine, PurchaseRecord } from '../../src/purchase/record.js';
import { STEP_NAMES } from '../../src/saga/saga.js';

/** src/api/views.ts: what a customer sees of a purchase record (GET /v1/purchases/:id). */

const at = '2026-01-01T00:00:00.000Z';
const planned = (productId: string, unitPrice: number, over: Partial<PlannedLine> = {}): PlannedLine => ({
  productId,
  quantity: 1,
  unitPrice,
  customization: {},
  free: false,
  dependencies: [],
  ...over,
});
const record = (over: Partial<PurchaseRecord> = {}): PurchaseRecord => ({
  id: 'pur_00aa',
  customerId: 'cust-1',
  status: 'processing',
  phase: 'running',
  createdAt: at,
  updatedAt: at,
  request: {
    items: [
      { productId: 'basic-plan', quantity: 2 },
      { productId: 'sold-out', quantity: 1 },
    ],
    outOfStock: 'remove',
    paymentToken: 'tok_visa',
    roles: [],
  },
  payment: { status: 'none', amount: 0, currency: 'USD' },
  steps: {},
  undos: {},
  ...over,
});

describe('purchaseView', () => {
  it('before the plan: the items as requested, every step pending in saga order, no rules, no order', () => {
    const view = purchaseView(record());
    expect(view.items).toEqual([
      { productId: 'basic-plan', quantity: 2, customization: {} },
      { productId: 'sold-out', quantity: 1, customization: {} },
    ]);
    expect(view.steps).toEqual(STEP_NAMES.map((name) => ({ name, status: 'pending' })));
    expect(view).not.toHaveProperty('appliedRules');
    expect(view).not.toHaveProperty('orderId');
    expect(view).not.toHaveProperty('error');
    expect(view).toMatchObject({ id: 'pur_00aa', status: 'processing', createdAt: at, updatedAt: at });
  });

  it('once planned: fulfilled lines priced, a free line marked, an out-of-stock line removed', () => {
    const view = purchaseView(
      record({
        plan: {
          lines: [
            planned('basic-plan', 999, { quantity: 2 }),
            planned('sold-out', 4999),
            planned('gift-card', 500, { free: true, customization: { note: 'x' } }),
          ],
          currency: 'USD',
          discountPercent: 0,
          appliedRules: ['partner-bonus'],
        },
        allocation: ['fulfilled', 'out_of_stock', 'fulfilled'],
      }),
    );
    expect(view.items).toEqual([
      { productId: 'basic-plan', quantity: 2, unitPrice: 999, customization: {} },
      { productId: 'gift-card', quantity: 1, unitPrice: 500, customization: { note: 'x' }, free: true },
    ]);
    expect(view.removed).toEqual([{ productId: 'sold-out', quantity: 1, customization: {} }]);
    expect(view.backordered).toEqual([]);
    expect(view.appliedRules).toEqual(['partner-bonus']);
  });

  it('a backorder policy lists the out-of-stock lines as backordered instead of removed', () => {
    const base = record();
    const view = purchaseView({
      ...base,
      request: { ...base.request, outOfStock: 'backorder' },
      plan: {
        lines: [planned('basic-plan', 999), planned('sold-out', 4999)],
        currency: 'USD',
        discountPercent: 0,
        appliedRules: [],
      },
      allocation: ['fulfilled', 'out_of_stock'],
    });
    expect(view.removed).toEqual([]);
    expect(view.backordered).toEqual([{ productId: 'sold-out', quantity: 1, customization: {} }]);
  });

  it("shows an undo while it is worked on or once it failed, never once it is done; the provider's ids stay hidden", () => {
    const view = purchaseView(
      record({
        status: 'failed',
        phase: 'done',
        payment: { status: 'refunded', amount: 999, currency: 'USD', paymentId: 'pay_1' },
        steps: { validation: 'completed', stock_check: 'compensated', payment: 'compensated', provisioning: 'failed' },
        undos: {
          stock_check: { status: 'done', attempts: 1, at },
          payment: { status: 'retrying', attempts: 2, error: 'provider down', at },
          provisioning: { status: 'failed', attempts: 5, error: 'partner down', at },
        },
        error: { code: 'purchase_failed', detail: 'provisioning failed', step: 'provisioning' },
      }),
    );
    const step = (name: string) => view.steps.find((s) => s.name === name);
    expect(step('stock_check')).toEqual({ name: 'stock_check', status: 'compensated' });
    expect(step('payment')).toEqual({
      name: 'payment',
      status: 'compensated',
      undo: { status: 'retrying', attempts: 2 },
    });
    expect(step('provisioning')).toEqual({
      name: 'provisioning',
      status: 'failed',
      undo: { status: 'failed', attempts: 5 },
    });
    expect(step('notification')).toEqual({ name: 'notification', status: 'pending' });
    expect(view.payment).toEqual({ status: 'refunded', amount: 999, currency: 'USD' });
    expect(view.error).toEqual({ code: 'purchase_failed', detail: 'provisioning failed', step: 'provisioning' });
  });

  it('shows an error only on a failed purchase, and its step only when one is blamed', () => {
    const error = { code: 'payment_failed' as const, detail: 'declined' };
    expect(purchaseView(record({ status: 'failed', error })).error).toEqual(error);
    expect(purchaseView(record({ status: 'processing', error }))).not.toHaveProperty('error');
  });

  it('shows the order once placed, and a review with its state and reason', () => {
    const view = purchaseView(
      record({ status: 'failed', orderId: 'ord_00aa', review: 'compensation of provisioning failed' }),
    );
    expect(view.orderId).toBe('ord_00aa');
    expect(view.review).toEqual({ status: 'manual_review', reason: 'compensation of provisioning failed' });
    const resolved = purchaseView(
      record({ review: 'x', reviewResolution: { how: 'manual', by: 'admin', at: '2026-01-02T00:00:00.000Z' } }),
    );
    expect(resolved.review).toEqual({ status: 'resolved', reason: 'x' });
  });
});

describe('statusUrl and withoutOwner', () => {
  it("a purchase's status URL is its contract path", () => {
    expect(statusUrl('pur_00aa')).toBe('/v1/purchases/pur_00aa');
  });

  it('a document leaves without the owner the store indexes it by, and nothing else is lost', () => {
    const doc = { id: 'ord_1', customerId: 'cust-1', total: { amount: 1, currency: 'USD' } };
    expect(withoutOwner(doc)).toEqual({ id: 'ord_1', total: { amount: 1, currency: 'USD' } });
    expect(doc.customerId).toBe('cust-1');
  });
});
