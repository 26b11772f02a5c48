import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAudit } from '../src/audit.js';
import { type Customer, visa } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/**
 * A purchase whose order placement fails `times` times (an operator's fault), canceled as soon as its pivot is
 * claimed: the cancel loses the race, while placing the order is retried. Answers the cancel and the settled purchase.
 */
async function cancelAfterPivotClaim(sys: TestSystem, times: number) {
  const customer = await sys.customer();
  expect((await sys.admin('POST', '/admin/faults', { point: 'order.place', times })).status).toBe(201);
  try {
    const accepted = await customer.purchase(
      { items: [{ productId: 'basic-plan', quantity: 1 }], payment: visa },
      { async: true },
    );
    const id = accepted.body.id as string;
    await vi.waitFor(async () => expect((await sys.stores.purchases.get(id))?.pivotClaimedAt).toBeDefined(), {
      timeout: 10_000,
      interval: 5,
    });
    const res = await customer.cancel(id);
    return { customer, id, res, state: await customer.waitForSettled(id, 20_000) };
  } finally {
    await sys.admin('DELETE', '/admin/faults');
  }
}

/** Cancelling a purchase in flight (contract §4.3), through HTTP on a real system. */
describe('Feature: cancel a purchase in flight', () => {
  let sys: TestSystem;
  let partner: Awaited<ReturnType<typeof startFakeService>>;

  beforeAll(async () => {
    partner = await startFakeService('ok');
    sys = await startTestSystem({ catalog: testCatalog(partner.url), env: { INTEGRATION_TIMEOUT_MS: '5000' } });
  });
  afterAll(async () => {
    await sys?.stop();
    await partner?.stop();
  });

  const statuses = (state: any) => Object.fromEntries(state.steps.map((s: any) => [s.name, s.status]));
  const stock = (id: string) => sys.stores.catalog.stock(id);

  it('a cancel that arrives while a slow partner is provisioning ends canceled: its hold voided, nothing active, stock back', async () => {
    partner.set({ slowMs: 1_500 });
    try {
      const customer = await sys.customer();
      const before = await stock('analytics');
      const accepted = await customer.purchase(
        { items: [{ productId: 'analytics', quantity: 1 }], payment: visa },
        { async: true },
      );
      expect(accepted.status).toBe(202);
      const id = accepted.body.id as string;
      // The partner has the provision request and has not answered yet.
      await vi.waitFor(
        () =>
          expect(partner.requests.some((r) => r.body?.purchaseId === id && r.body.event === 'provision')).toBe(true),
        {
          timeout: 10_000,
          interval: 20,
        },
      );
      const res = await customer.cancel(id);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, status: 'canceled', payment: { status: 'voided', amount: 2999 } });
      expect(res.body.error).toBeUndefined();
      const state = await customer.waitForSettled(id);
      expect(statuses(state)).toEqual({
        validation: 'completed',
        stock_check: 'compensated',
        payment: 'compensated',
        inventory_update: 'compensated',
        provisioning: 'compensated',
        order_placement: 'skipped',
        notification: 'skipped',
      });
      expect(await customer.orders()).toEqual([]);
      const units = (await customer.provisioned()).filter((u) => u.purchaseId === id);
      expect(units.map((u) => u.status)).toEqual(['deprovisioned']);
      const deprovision = partner.requests.filter((r) => r.body?.purchaseId === id && r.body.event === 'deprovision');
      expect(deprovision.length).toBeGreaterThan(0);
      expect(deprovision[0]!.headers['idempotency-key']).toBe(`${units[0].id}-deprovision`);
      expect(await stock('analytics')).toEqual(before);
      const notes = (await customer.notifications()).filter((n) => n.purchaseId === id);
      expect(notes.map((n) => n.type).sort()).toEqual(['purchase_accepted', 'purchase_canceled']);
      expect(notes.find((n) => n.type === 'purchase_canceled').message).toContain('you were not charged');
      // A second cancel answers with the canceled purchase.
      expect(await customer.cancel(id)).toMatchObject({ status: 200, body: { id, status: 'canceled' } });
    } finally {
      partner.set('ok');
    }
  });

  it('a finished purchase is not cancelable: completed says to cancel the order, failed says it ended', async () => {
    const customer = await sys.customer();
    const done = await customer.buy('basic-plan');
    expect(done.status).toBe(201);
    const refused = await customer.cancel(done.body.id);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      code: 'not_cancelable',
      purchaseId: done.body.id,
      orderId: done.body.orderId,
    });
    expect(refused.body.detail).toContain('cancel the order instead');
    expect((await customer.purchaseState(done.body.id)).status).toBe('completed');

    const declined = await customer.purchase({
      items: [{ productId: 'basic-plan', quantity: 1 }],
      payment: { token: 'tok_declined' },
    });
    expect(declined.status).toBe(402);
    const failed = await customer.cancel(declined.body.purchaseId);
    expect(failed).toMatchObject({ status: 409, body: { code: 'not_cancelable' } });
    expect(failed.body.detail).toContain('failed');
  });

  it('a cancel after the pivot is claimed, while the order cannot be placed, is told the purchase failed (as it did), never that the order is placed', async () => {
    // Every attempt at placing the order fails (STEP_ATTEMPTS=3): the cancel waits for the outcome and tells it.
    const { customer, id, res, state } = await cancelAfterPivotClaim(sys, 3);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'not_cancelable', purchaseId: id });
    expect(res.body.orderId).toBeUndefined();
    expect(res.body.detail).not.toMatch(/placed|cancel the order/);
    expect(res.body.detail).toContain('failed');
    // What the customer was told is what happened: failed, never charged, no order.
    expect(state).toMatchObject({
      status: 'failed',
      error: { code: 'purchase_failed' },
      payment: { status: 'voided' },
    });
    expect((await customer.orders()).filter((o) => o.purchaseId === id)).toEqual([]);
  });

  it("another customer's purchase, or an unknown id, is not_found, and nothing is canceled", async () => {
    const owner = await sys.customer();
    const other = await sys.customer();
    partner.set({ slowMs: 800 });
    try {
      const accepted = await owner.purchase(
        { items: [{ productId: 'analytics', quantity: 1 }], payment: visa },
        { async: true },
      );
      const id = accepted.body.id as string;
      expect(await other.cancel(id)).toMatchObject({ status: 404, body: { code: 'not_found' } });
      expect(await other.cancel('pur_nothing')).toMatchObject({ status: 404, body: { code: 'not_found' } });
      expect((await owner.waitForSettled(id)).status).toBe('completed');
    } finally {
      partner.set('ok');
    }
  });

  it('50 purchases each canceled at a random moment under load end completed (cancel refused) or canceled, never both, never neither', async () => {
    partner.set({ slowMs: 20 });
    try {
      const customers: Customer[] = await Promise.all(Array.from({ length: 5 }, () => sys.customer()));
      const runs = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const customer = customers[i % customers.length]!;
          const productId = i % 2 === 0 ? 'analytics' : 'basic-plan';
          const accepted = await customer.purchase(
            { items: [{ productId, quantity: 1 }], payment: visa },
            { async: true },
          );
          expect(accepted.status).toBe(202);
          const id = accepted.body.id as string;
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 800)));
          const cancel = await customer.cancel(id);
          return { customer, id, cancel };
        }),
      );
      const figures = { completed: 0, canceled: 0 };
      for (const { customer, id, cancel } of runs) {
        const state = await customer.waitForSettled(id, 30_000);
        const orders = (await customer.orders()).filter((o) => o.purchaseId === id);
        if (state.status === 'completed') {
          figures.completed++;
          expect(orders).toHaveLength(1);
          // A cancel that lost the race to the claim waited for the order: it names it.
          expect(cancel).toMatchObject({ status: 409, body: { code: 'not_cancelable', orderId: orders[0].id } });
          expect(state.payment.status).toBe('captured');
        } else {
          figures.canceled++;
          expect(state.status, id).toBe('canceled');
          expect([200, 202]).toContain(cancel.status);
          expect(orders).toEqual([]);
          expect(['voided', 'none']).toContain(state.payment.status);
          const units = (await customer.provisioned()).filter((u) => u.purchaseId === id);
          expect(units.filter((u) => u.status === 'active')).toEqual([]);
        }
      }
      console.log(
        `random cancels: ${figures.completed} completed with the cancel refused, ${figures.canceled} canceled`,
      );
      expect(figures.completed + figures.canceled).toBe(50);
      await vi.waitFor(async () => expect(await sys.stores.purchases.openIds()).toEqual([]), { timeout: 15_000 });
      const audit = await runAudit(sys.stores);
      expect(audit.violations).toEqual([]);
      expect(audit.quiet).toBe(true);
    } finally {
      partner.set('ok');
    }
  }, 60_000);
});

/**
 * A cancel that finds the pivot claimed waits for the order at most SYNC_TIMEOUT_MS: here short, with order
 * placement retried slowly, so the outcome is still open when the cancel answers.
 */
describe('Feature: a cancel while the order is being placed', () => {
  let sys: TestSystem;

  beforeAll(async () => {
    sys = await startTestSystem({ env: { SYNC_TIMEOUT_MS: '300', STEP_BACKOFF_MS: '1000' } });
  });
  afterAll(async () => sys?.stop());

  // The first attempt fails at once and the next waits STEP_BACKOFF_MS: still undecided after SYNC_TIMEOUT_MS.
  const beingPlaced = (res: { status: number; body: any }, id: string) => {
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'not_cancelable', purchaseId: id });
    expect(res.body.orderId).toBeUndefined();
    expect(res.body.detail).toContain('being placed');
    expect(res.body.detail).not.toMatch(/order is placed|cancel the order/);
  };

  it('undecided at the bound: told the order is being placed and the payment comes back if it cannot be; it could not, and it did', async () => {
    const { id, res, state } = await cancelAfterPivotClaim(sys, 3);
    beingPlaced(res, id);
    expect(res.body.detail).toContain('your payment is returned');
    expect(state).toMatchObject({
      status: 'failed',
      error: { code: 'purchase_failed' },
      payment: { status: 'voided' },
    });
  });

  it('undecided at the bound, then placed: the same answer was true; a cancel now names the order', async () => {
    const { customer, id, res, state } = await cancelAfterPivotClaim(sys, 2);
    beingPlaced(res, id);
    expect(state).toMatchObject({ status: 'completed', payment: { status: 'captured' } });
    const again = await customer.cancel(id);
    expect(again).toMatchObject({ status: 409, body: { code: 'not_cancelable', orderId: state.orderId } });
    expect(again.body.detail).toContain('cancel the order instead');
  });
});
