import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAudit } from '../src/audit.js';
import { type Customer, unitsOf, visa } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/** Cancelling a placed order (contract §4.3): the order-cancel saga, through HTTP on a real system. */
describe('Feature: cancel a placed order', () => {
  let sys: TestSystem;
  let partner: Awaited<ReturnType<typeof startFakeService>>;

  beforeAll(async () => {
    partner = await startFakeService('ok');
    sys = await startTestSystem({ catalog: testCatalog(partner.url) });
  });
  afterAll(async () => {
    await sys?.stop();
    await partner?.stop();
  });

  const stock = (id: string) => sys.stores.catalog.stock(id);
  const levels = async () => ({
    pro: await stock('pro-plan'),
    ip: await stock('ip-address'),
    analytics: await stock('analytics'),
  });
  const buyBundle = async (customer: Customer) => {
    const res = await customer.purchase({
      items: [
        { productId: 'pro-plan', quantity: 1, customization: { domain: 'shop.example' } },
        { productId: 'analytics', quantity: 1 },
      ],
      payment: visa,
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; orderId: string };
  };
  const adminView = async (id: string) => (await sys.admin('GET', `/admin/purchases/${id}`)).body;

  it('cancels a placed order: deprovisioned, restocked, refunded; the purchase stays completed; the customer is told', async () => {
    const customer = await sys.customer();
    const before = await levels();
    const { id, orderId } = await buyBundle(customer);
    const res = await customer.cancelOrder(orderId);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: orderId, purchaseId: id, status: 'canceled' });
    expect(Date.parse(res.body.canceledAt)).toBeGreaterThanOrEqual(Date.parse(res.body.createdAt));
    const purchase = await customer.purchaseState(id);
    expect(purchase).toMatchObject({ status: 'completed', orderId, payment: { status: 'refunded', amount: 4998 } });
    // Every unit deprovisioned (the partner's once it confirmed), stock and quota back.
    await vi.waitFor(
      async () =>
        expect((await unitsOf(customer, id)).map((u) => u.status)).toEqual([
          'deprovisioned',
          'deprovisioned',
          'deprovisioned',
        ]),
      {
        timeout: 10_000,
      },
    );
    expect(await levels()).toEqual(before);
    expect(await sys.stores.inventory.quotaHeld(customer.id, 'pro-plan')).toBe(0);
    const [analyticsUnit] = (await unitsOf(customer, id)).filter((u) => u.productId === 'analytics');
    const calls = partner.requests.filter((r) => r.body?.purchaseId === id);
    expect(calls.map((r) => r.body.event)).toEqual(['provision', 'deprovision']);
    expect(calls[1]!.headers['idempotency-key']).toBe(`${analyticsUnit.id}-deprovision`);
    const notes = (await customer.notifications()).filter((n) => n.purchaseId === id && n.type === 'order_canceled');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ details: { orderId, refunded: true } });
    expect(notes[0].message).toContain('refunded');
    // Again: the canceled order, and nothing moves twice.
    const again = await customer.cancelOrder(orderId);
    expect(again).toMatchObject({ status: 200, body: { status: 'canceled', canceledAt: res.body.canceledAt } });
    expect((await customer.orders()).find((o) => o.id === orderId)).toMatchObject({ status: 'canceled' });
    await vi.waitFor(async () => expect(await sys.stores.purchases.openIds()).toEqual([]), { timeout: 10_000 });
    expect(await levels()).toEqual(before);
    const audit = await runAudit(sys.stores);
    expect(audit.violations).toEqual([]);
    expect(audit.figures.canceledOrders).toBeGreaterThanOrEqual(1);
  });

  it('a partner that is down does not hold up the refund; its undo is flagged for review, and a retry once it is back resolves it', async () => {
    const customer = await sys.customer();
    const before = await levels();
    const { id, orderId } = await buyBundle(customer);
    partner.set('fail');
    try {
      const res = await customer.cancelOrder(orderId);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('canceled');
      expect((await customer.purchaseState(id)).payment.status).toBe('refunded');
      expect(await levels()).toEqual(before);
      // The partner's undo fails for good: the purchase needs a person.
      const flagged = await vi.waitFor(
        async () => {
          const state = await customer.purchaseState(id);
          expect(state.review?.status).toBe('manual_review');
          return state;
        },
        { timeout: 15_000, interval: 100 },
      );
      expect(flagged.steps.find((s: any) => s.name === 'provisioning')).toMatchObject({
        status: 'completed',
        undo: { status: 'failed' },
      });
      expect((await unitsOf(customer, id)).find((u) => u.productId === 'analytics')?.status).toBe('active');
      const view = await adminView(id);
      expect(view.review).toMatchObject({ status: 'manual_review' });
    } finally {
      partner.set('ok');
    }
    const retry = await sys.admin('POST', `/admin/purchases/${id}/retry`);
    expect(retry.status).toBe(202);
    await vi.waitFor(
      async () =>
        expect((await adminView(id)).review).toMatchObject({ status: 'resolved', resolution: { how: 'retry' } }),
      {
        timeout: 15_000,
        interval: 100,
      },
    );
    expect((await unitsOf(customer, id)).every((u) => u.status === 'deprovisioned')).toBe(true);
    await vi.waitFor(async () => expect(await sys.stores.purchases.openIds()).toEqual([]), { timeout: 10_000 });
    expect((await runAudit(sys.stores)).violations).toEqual([]);
  });

  it('an order past ORDER_CANCEL_WINDOW_S is not cancelable, and nothing moves', async () => {
    const customer = await sys.customer();
    const { id, orderId } = await buyBundle(customer);
    // The order as if placed 15 days ago (the window is 14).
    const order = (await sys.stores.orders.get(orderId))!;
    await sys.stores.orders.replace({ ...order, createdAt: new Date(Date.now() - 15 * 86_400_000).toISOString() });
    const after = await levels();
    const res = await customer.cancelOrder(orderId);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'not_cancelable', purchaseId: id });
    expect(res.body.detail).toContain('14 days');
    expect((await customer.orders()).find((o) => o.id === orderId)?.status).toBe('placed');
    expect((await customer.purchaseState(id)).payment.status).toBe('captured');
    expect(await levels()).toEqual(after);
  });

  it("another customer's order, or an unknown one, is not_found", async () => {
    const owner = await sys.customer();
    const other = await sys.customer();
    const { orderId } = await buyBundle(owner);
    expect(await other.cancelOrder(orderId)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await other.cancelOrder('ord_nothing')).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect((await owner.orders()).find((o) => o.id === orderId)?.status).toBe('placed');
  });
});
