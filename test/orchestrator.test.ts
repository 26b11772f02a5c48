import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Customer, type HttpResult, unitsOf, visa } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { providerPaymentOf } from './helpers/gateway.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';
import { stageJobId } from '../src/ids.js';
import { FAULT_POINTS, stageOf, STEP_NAMES, stepNamed, STEPS, UNDOABLE, type StepName } from '../src/saga/saga.js';

/** A fault point an operator can arm (POST /admin/faults): each step's, and `external` (every partner call). */
type FaultPoint = (typeof FAULT_POINTS)[number];
type Stock = { available: number; reserved: number; sold: number };

/** Steps with an undo: once completed, a failed purchase must show them `compensated`. */
const UNDONE = new Set<string>(UNDOABLE.map((s) => s.name));
const TERMINAL = ['completed', 'partially_fulfilled', 'failed'];

/** Tiny stocks of the file's own, beside the test catalog: competing lines and a shared dependency. */
const EXTRA_PRODUCTS = [
  { id: 'scarce', name: 'Scarce licence', price: { amount: 1000, currency: 'USD' }, stock: 3, dependencies: [] },
  { id: 'ipv4-block', name: 'IPv4 block', price: { amount: 200, currency: 'USD' }, stock: 1, dependencies: [] },
  {
    id: 'edge-server',
    name: 'Edge server',
    price: { amount: 1500, currency: 'USD' },
    stock: 5,
    dependencies: ['ipv4-block'],
  },
];

/** Business rules of the shared system; only customers with the roles (or >5 gift cards) trigger them. */
const RULES = [
  {
    name: 'gift-card-limit',
    conditions: {
      all: [
        { fact: 'productIds', operator: 'contains', value: 'gift-card' },
        { fact: 'itemCount', operator: 'greaterThan', value: 5 },
      ],
    },
    event: { type: 'reject', params: { message: 'at most 5 gift cards per order' } },
  },
  {
    name: 'vip-discount',
    conditions: { all: [{ fact: 'roles', operator: 'contains', value: 'vip' }] },
    event: { type: 'discount', params: { percent: 10 } },
  },
  {
    name: 'partner-bonus',
    conditions: {
      all: [
        { fact: 'roles', operator: 'contains', value: 'partner' },
        { fact: 'orderTotal', operator: 'greaterThanInclusive', value: 5000 },
      ],
    },
    event: { type: 'addItem', params: { productId: 'gift-card' } },
  },
];

const proPlan = (domain: string) => ({ productId: 'pro-plan', quantity: 1, customization: { domain } });
const statuses = (state: any) => Object.fromEntries(state.steps.map((s: any) => [s.name, s.status]));

describe('Feature: Purchase Orchestrator', () => {
  let sys: TestSystem;
  let fake: Awaited<ReturnType<typeof startFakeService>>;
  const initialStock = new Map<string, number>();
  const extraSystems: TestSystem[] = [];
  const extraFakes: Awaited<ReturnType<typeof startFakeService>>[] = [];
  /** The purchases the running test started, checked for a terminal status after it. */
  const created: { customer: Customer; id: string }[] = [];

  beforeAll(async () => {
    fake = await startFakeService('ok');
    const catalog = [...testCatalog(fake.url), ...EXTRA_PRODUCTS];
    for (const p of catalog) initialStock.set(p.id, p.stock);
    sys = await startTestSystem({ catalog, rules: RULES });
  });
  afterAll(async () => {
    for (const s of extraSystems) await s.stop();
    for (const f of extraFakes) await f.stop();
    await sys?.stop();
    await fake?.stop();
  });

  // The invariants, after each test over what it started: so no test relies on another's leftovers.
  afterEach(async () => {
    for (const { customer, id } of created.splice(0))
      expect(TERMINAL, id).toContain((await customer.waitForSettled(id)).status);
    await vi.waitFor(async () => expect(await sys.stores.purchases.openIds()).toEqual([]), { timeout: 10_000 });
    // units sold + units available = units stocked, nothing left reserved
    for (const [productId, stocked] of initialStock) {
      const level = await sys.stores.catalog.stock(productId);
      expect({ productId, ...level, balance: level.available + level.sold }).toEqual({
        productId,
        ...level,
        reserved: 0,
        balance: stocked,
      });
    }
  });

  const track = (customer: Customer, res: HttpResult): string => {
    const id = res.body?.id ?? res.body?.purchaseId;
    expect(id, `purchase id in ${JSON.stringify(res.body)}`).toMatch(/^pur_/);
    created.push({ customer, id });
    return id;
  };
  const stocks = async (ids: string[], on = sys) =>
    Object.fromEntries(
      await Promise.all(ids.map(async (id) => [id, await on.stores.catalog.stock(id)] as [string, Stock])),
    );
  const notes = async (customer: Customer, id: string, type?: string) =>
    (await customer.notifications()).filter((n) => n.purchaseId === id && (!type || n.type === type));
  const ordersOf = async (customer: Customer, id: string) =>
    (await customer.orders()).filter((o) => o.purchaseId === id);
  /** The operator's view (Bull Board) of the job a step ran in: how many attempts it took. */
  const attemptsOf = async (purchaseId: string, step: StepName): Promise<number> => {
    const stage = stageOf(stepNamed(step)!);
    // With several shards the board names a queue `<shard>:<queue>` (the shard is in the purchase id).
    const { keys } = sys.stores;
    const board = keys.shards > 1 ? `${keys.shardOf(purchaseId)}:${stage.queue}` : stage.queue;
    const res = await sys.admin('GET', `/admin/queues/api/queues/${board}/${stageJobId(purchaseId, stage.name)}`);
    expect(res.status).toBe(200);
    return (res.body as { job: { attempts: number } }).job.attempts;
  };
  const armFault = async (point: FaultPoint, times: number) => {
    expect(FAULT_POINTS).toContain(point);
    expect((await sys.admin('POST', '/admin/faults', { point, times })).status).toBe(201);
  };

  /** Buys `items` with `point` failing for good; clears the fault once the purchase has ended. */
  async function purchaseWithFault(customer: Customer, point: FaultPoint, items: unknown[], products: string[]) {
    const before = await stocks(products);
    await armFault(point, 10);
    try {
      const res = await customer.purchase({ items, payment: visa });
      const id = track(customer, res);
      return { res, id, before, state: await customer.waitForSettled(id) };
    } finally {
      expect((await sys.admin('DELETE', '/admin/faults')).status).toBe(204);
    }
  }

  /** Completed steps with an undo are compensated, the failing one failed, later ones skipped. */
  function expectRolledBackSteps(state: any, failedStep: string) {
    const failedAt = STEP_NAMES.indexOf(failedStep as StepName);
    expect(failedAt, failedStep).toBeGreaterThanOrEqual(0);
    const expected = Object.fromEntries(
      STEP_NAMES.map((name, i) => [
        name,
        i < failedAt ? (UNDONE.has(name) ? 'compensated' : 'completed') : i === failedAt ? 'failed' : 'skipped',
      ]),
    );
    expect(statuses(state)).toEqual(expected);
  }

  async function expectNothingActive(customer: Customer, id: string) {
    const units = await unitsOf(customer, id);
    expect(units.filter((u) => u.status !== 'deprovisioned')).toEqual([]);
    return units;
  }

  async function expectOneFailureNotice(customer: Customer, id: string, step: string, refunded: boolean) {
    const failed = (await customer.notifications()).filter((n) => n.type === 'purchase_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ purchaseId: id, details: { code: 'purchase_failed', step, refunded } });
    expect(failed[0].message).toContain(refunded ? 'refunded' : 'not charged');
    return failed[0];
  }

  it('Successful purchase orchestration', async () => {
    const customer = await sys.customer();
    const before = await stocks(['pro-plan', 'ip-address']);
    const res = await customer.purchase({ items: [proPlan('shop.example')], payment: visa });
    const id = track(customer, res);
    // Then the Purchase Orchestrator should coordinate the purchase process
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id,
      status: 'completed',
      payment: { status: 'captured', amount: 1999, currency: 'USD' },
    });
    expect(res.body.steps.map((s: any) => s.name)).toEqual(STEP_NAMES);
    expect(res.body.steps.every((s: any) => s.status === 'completed')).toBe(true);
    expect(await customer.purchaseState(id)).toMatchObject({ status: 'completed', orderId: res.body.orderId });
    // And the product should be provisioned to the customer
    const units = await unitsOf(customer, id);
    expect(units).toHaveLength(2);
    expect(units.find((u) => u.productId === 'pro-plan')).toMatchObject({
      status: 'active',
      customization: { domain: 'shop.example' },
      dependencyOf: null,
    });
    expect(units.find((u) => u.productId === 'ip-address')).toMatchObject({
      status: 'active',
      dependencyOf: 'pro-plan',
    });
    const after = await stocks(['pro-plan', 'ip-address']);
    for (const p of ['pro-plan', 'ip-address']) {
      expect(after[p]).toEqual({ ...before[p], available: before[p]!.available - 1, sold: before[p]!.sold + 1 });
    }
    // And the order details should be stored in the Order Management System
    const orders = await customer.orders();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      id: res.body.orderId,
      purchaseId: id,
      customerId: customer.id,
      status: 'placed',
      items: [{ productId: 'pro-plan', quantity: 1, unitPrice: 1999, customization: { domain: 'shop.example' } }],
      backordered: [],
      total: { amount: 1999, currency: 'USD' },
    });
    // And the customer should receive a confirmation message with the order details
    const [confirmation] = await notes(customer, id, 'order_confirmation');
    expect(confirmation).toMatchObject({
      details: {
        orderId: res.body.orderId,
        items: [{ productId: 'pro-plan', quantity: 1 }],
        total: { amount: 1999, currency: 'USD' },
      },
    });
    expect(confirmation.message).toContain(res.body.orderId);
    expect(confirmation.message).toContain('$19.99');
  });

  it('Purchase orchestration with out-of-stock product', async () => {
    const customer = await sys.customer();
    const before = await stocks(['sold-out']);
    const res = await customer.buy('sold-out');
    const id = track(customer, res);
    // Then the Purchase Orchestrator should gracefully handle the out-of-stock scenario
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'out_of_stock', status: 409, purchaseId: id });
    const state = await customer.purchaseState(id);
    expect(state).toMatchObject({ status: 'failed', error: { code: 'out_of_stock', step: 'stock_check' } });
    expect(statuses(state)).toMatchObject({
      validation: 'completed',
      stock_check: 'failed',
      payment: 'skipped',
      provisioning: 'skipped',
      order_placement: 'skipped',
    });
    expect(await stocks(['sold-out'])).toEqual(before);
    // And the customer should receive an "out_of_stock" notification
    const notices = await notes(customer, id);
    expect(notices.map((n) => n.type)).toEqual(['out_of_stock']);
    expect(notices[0].details).toMatchObject({ code: 'out_of_stock', refunded: false });
    // And no payment should be processed
    expect(state.payment).toEqual({ status: 'none', amount: 0, currency: 'USD' });
    expect(await providerPaymentOf(sys, id)).toBeUndefined();
    // And no order should be created
    expect(await customer.orders()).toEqual([]);
    expect(state.orderId).toBeUndefined();
    expect(await customer.provisioned()).toEqual([]);
  });

  it('Purchase orchestration with payment failure', async () => {
    const customer = await sys.customer();
    const before = await stocks(['basic-plan']);
    const res = await customer.purchase({
      items: [{ productId: 'basic-plan', quantity: 1 }],
      payment: { token: 'tok_declined' },
    });
    const id = track(customer, res);
    // Then the Purchase Orchestrator should handle the payment failure
    expect(res.status).toBe(402);
    expect(res.body).toMatchObject({ code: 'payment_failed', purchaseId: id });
    const state = await customer.purchaseState(id);
    expect(state).toMatchObject({
      status: 'failed',
      error: { code: 'payment_failed', step: 'payment' },
      payment: { status: 'declined' },
    });
    expectRolledBackSteps(state, 'payment');
    expect(await stocks(['basic-plan'])).toEqual(before);
    // And the customer should receive a "payment_failed" notification
    const notices = await notes(customer, id);
    expect(notices.map((n) => n.type)).toEqual(['payment_failed']);
    expect(notices[0].details).toMatchObject({ code: 'payment_failed', step: 'payment', refunded: false });
    // And no product should be provisioned
    expect(await customer.provisioned()).toEqual([]);
    // And no order should be created
    expect(await customer.orders()).toEqual([]);
  });

  it('Purchase orchestration with multiple products', async () => {
    const customer = await sys.customer();
    const products = ['basic-plan', 'storage-addon', 'pro-plan', 'ip-address'];
    const before = await stocks(products);
    const items = [
      { productId: 'basic-plan', quantity: 2 },
      { productId: 'storage-addon', quantity: 1, customization: { sizeGb: 50 } },
      proPlan('multi.example'),
    ];
    const res = await customer.purchase({ items, payment: visa });
    const id = track(customer, res);
    const total = 2 * 999 + 499 + 1999;
    // Then the Purchase Orchestrator should coordinate the purchase process for all products
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'completed',
      removed: [],
      backordered: [],
      payment: { status: 'captured', amount: total },
    });
    expect(res.body.items.map((i: any) => [i.productId, i.quantity])).toEqual([
      ['basic-plan', 2],
      ['storage-addon', 1],
      ['pro-plan', 1],
    ]);
    expect(res.body.steps.every((s: any) => s.status === 'completed')).toBe(true);
    // And all the products should be provisioned to the customer
    const units = await unitsOf(customer, id);
    expect(units.every((u) => u.status === 'active')).toBe(true);
    expect(units.map((u) => u.productId).sort()).toEqual([
      'basic-plan',
      'basic-plan',
      'ip-address',
      'pro-plan',
      'storage-addon',
    ]);
    expect(units.find((u) => u.productId === 'storage-addon').customization).toEqual({ sizeGb: 50 });
    const after = await stocks(products);
    const taken: Record<string, number> = { 'basic-plan': 2, 'storage-addon': 1, 'pro-plan': 1, 'ip-address': 1 };
    for (const p of products)
      expect(after[p]).toEqual({
        ...before[p],
        available: before[p]!.available - taken[p]!,
        sold: before[p]!.sold + taken[p]!,
      });
    // And a single order should be created with all the purchased products
    const orders = await customer.orders();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      id: res.body.orderId,
      purchaseId: id,
      total: { amount: total, currency: 'USD' },
    });
    expect(orders[0].items).toEqual([
      { productId: 'basic-plan', quantity: 2, unitPrice: 999, customization: {} },
      { productId: 'storage-addon', quantity: 1, unitPrice: 499, customization: { sizeGb: 50 } },
      { productId: 'pro-plan', quantity: 1, unitPrice: 1999, customization: { domain: 'multi.example' } },
    ]);
    // And the customer should receive a confirmation message with the consolidated order details
    const confirmations = await notes(customer, id, 'order_confirmation');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0].details).toMatchObject({
      orderId: orders[0].id,
      items: orders[0].items,
      total: { amount: total, currency: 'USD' },
    });
    for (const p of ['basic-plan', 'storage-addon', 'pro-plan']) expect(confirmations[0].message).toContain(p);
    const provisionedNotes = await notes(customer, id, 'product_provisioned');
    expect(provisionedNotes.map((n) => n.details.productId).sort()).toEqual([
      'basic-plan',
      'pro-plan',
      'storage-addon',
    ]);
  });

  it('Purchase orchestration with partial fulfillment', async () => {
    for (const policy of ['remove', 'backorder'] as const) {
      const customer = await sys.customer();
      const before = await stocks(['basic-plan', 'sold-out']);
      const items = [
        { productId: 'basic-plan', quantity: 1 },
        { productId: 'sold-out', quantity: 1 },
      ];
      const res = await customer.purchase({ items, payment: visa, outOfStock: policy });
      const id = track(customer, res);
      const missing = [{ productId: 'sold-out', quantity: 1, customization: {} }];
      // Then the Purchase Orchestrator should handle the partial fulfillment scenario
      expect(res.status, policy).toBe(201);
      expect(res.body).toMatchObject({
        id,
        status: 'partially_fulfilled',
        items: [{ productId: 'basic-plan', quantity: 1, unitPrice: 999 }],
      });
      expect(res.body.steps.every((s: any) => s.status === 'completed')).toBe(true);
      // only the fulfilled line is charged
      expect(res.body.payment).toEqual({ status: 'captured', amount: 999, currency: 'USD' });
      // And the available products should be provisioned to the customer
      const units = await unitsOf(customer, id);
      expect(units.map((u) => [u.productId, u.status])).toEqual([['basic-plan', 'active']]);
      const after = await stocks(['basic-plan', 'sold-out']);
      expect(after['basic-plan']).toEqual({
        ...before['basic-plan'],
        available: before['basic-plan']!.available - 1,
        sold: before['basic-plan']!.sold + 1,
      });
      expect(after['sold-out']).toEqual(before['sold-out']);
      // And an order should be created with the fulfilled products
      const orders = await customer.orders();
      expect(orders).toHaveLength(1);
      expect(orders[0]).toMatchObject({
        id: res.body.orderId,
        items: [{ productId: 'basic-plan', quantity: 1, unitPrice: 999, customization: {} }],
        total: { amount: 999 },
      });
      expect(orders[0].items).toHaveLength(1);
      // And the customer should receive a notification about the partially fulfilled order
      const [partial] = await notes(customer, id, 'partial_fulfillment');
      const outcome = policy === 'remove' ? 'removed' : 'backordered';
      expect(partial.details.lines).toEqual([
        { productId: 'basic-plan', quantity: 1, outcome: 'fulfilled' },
        { productId: 'sold-out', quantity: 1, outcome },
      ]);
      expect(partial.message).toContain(`sold-out ${outcome}`);
      expect(await notes(customer, id, 'order_confirmation')).toHaveLength(1);
      // And the out-of-stock products should be backordered or removed from the order based on customer preference
      expect(res.body.removed).toEqual(policy === 'remove' ? missing : []);
      expect(res.body.backordered).toEqual(policy === 'backorder' ? missing : []);
      expect(orders[0].backordered).toEqual(policy === 'backorder' ? missing : []);
    }
  });

  it('Purchase orchestration with inventory update failure', async () => {
    const customer = await sys.customer();
    const { res, id, before, state } = await purchaseWithFault(
      customer,
      'inventory.commit',
      [proPlan('inv.example')],
      ['pro-plan', 'ip-address'],
    );
    // Then the Purchase Orchestrator should handle the inventory update failure
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'purchase_failed', purchaseId: id });
    expect(state).toMatchObject({ status: 'failed', error: { code: 'purchase_failed', step: 'inventory_update' } });
    // And the purchase process should be rolled back
    expectRolledBackSteps(state, 'inventory_update');
    expect(await stocks(['pro-plan', 'ip-address'])).toEqual(before);
    expect(await sys.stores.inventory.quotaHeld(customer.id, 'pro-plan')).toBe(0);
    expect(await customer.provisioned()).toEqual([]);
    expect(await customer.orders()).toEqual([]);
    // And the payment should be refunded: failed before the capture, its hold is voided (contract §4), never charged
    expect(state.payment).toEqual({ status: 'voided', amount: 1999, currency: 'USD' });
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', amount: 1999, captured: 0 });
    // And the customer should receive a "purchase_failed" notification with details about the failure
    const notice = await expectOneFailureNotice(customer, id, 'inventory_update', false);
    expect(notice.message).toContain('inventory_update');
  });

  it('Purchase orchestration with order placement failure', async () => {
    const customer = await sys.customer();
    const { res, id, before, state } = await purchaseWithFault(
      customer,
      'order.place',
      [proPlan('oms.example')],
      ['pro-plan', 'ip-address'],
    );
    // Then the Purchase Orchestrator should handle the order placement failure
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'purchase_failed', purchaseId: id });
    expect(state).toMatchObject({ status: 'failed', error: { code: 'purchase_failed', step: 'order_placement' } });
    // And the purchase process should be rolled back
    expectRolledBackSteps(state, 'order_placement');
    expect(await stocks(['pro-plan', 'ip-address'])).toEqual(before);
    expect(await customer.orders()).toEqual([]);
    // And the payment should be refunded (voided: the order was never placed, so nothing was captured)
    expect(state.payment).toEqual({ status: 'voided', amount: 1999, currency: 'USD' });
    // And the product provisioning should be undone
    const units = await expectNothingActive(customer, id);
    expect(units.map((u) => u.productId).sort()).toEqual(['ip-address', 'pro-plan']);
    // And the customer should receive a "purchase_failed" notification with details about the failure
    await expectOneFailureNotice(customer, id, 'order_placement', false);
  });

  it('Purchase orchestration with external service integration failure', async () => {
    const customer = await sys.customer();
    const { res, id, before, state } = await purchaseWithFault(
      customer,
      'external',
      [{ productId: 'analytics', quantity: 1 }],
      ['analytics'],
    );
    // Then the Purchase Orchestrator should handle the external service integration failure
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'purchase_failed', purchaseId: id });
    expect(state).toMatchObject({ status: 'failed', error: { code: 'purchase_failed', step: 'provisioning' } });
    // And the purchase process should be rolled back
    expectRolledBackSteps(state, 'provisioning');
    expect(await stocks(['analytics'])).toEqual(before);
    expect(await customer.orders()).toEqual([]);
    // And the payment should be refunded (voided: never captured)
    expect(state.payment).toEqual({ status: 'voided', amount: 2999, currency: 'USD' });
    // And the product provisioning should be undone
    expect(await expectNothingActive(customer, id)).toEqual([]);
    // the external service is told to deprovision, in case it acted on a request whose answer was lost
    const calls = fake.requests.filter((r) => r.body?.purchaseId === id).map((r) => r.body.event);
    expect(calls).toContain('deprovision');
    expect(calls).not.toContain('provision');
    // And the customer should receive a "purchase_failed" notification with details about the failure
    await expectOneFailureNotice(customer, id, 'provisioning', false);
  });

  it('Purchase orchestration with custom business rules', async () => {
    const customer = await sys.customer(undefined, ['vip', 'partner']);
    const before = await stocks(['basic-plan', 'gift-card']);
    const res = await customer.purchase({ items: [{ productId: 'basic-plan', quantity: 6 }], payment: visa });
    const id = track(customer, res);
    const charged = 5395; // 6 × 9.99 = 59.94, less the VIP 10 %, rounded to the cent
    // Then the Purchase Orchestrator should apply the custom business rules
    expect(res.status).toBe(201);
    expect([...res.body.appliedRules].sort()).toEqual(['partner-bonus', 'vip-discount']);
    // And the purchase process should be executed according to the defined rules
    expect(res.body.status).toBe('completed');
    expect(res.body.payment).toEqual({ status: 'captured', amount: charged, currency: 'USD' });
    expect(res.body.items).toEqual([
      { productId: 'basic-plan', quantity: 6, unitPrice: 999, customization: {} },
      { productId: 'gift-card', quantity: 1, unitPrice: 0, customization: {}, free: true },
    ]);
    // And the product should be provisioned to the customer
    const units = await unitsOf(customer, id);
    expect(units.filter((u) => u.productId === 'basic-plan' && u.status === 'active')).toHaveLength(6);
    expect(units.filter((u) => u.productId === 'gift-card' && u.status === 'active')).toHaveLength(1);
    const after = await stocks(['basic-plan', 'gift-card']);
    expect(after['basic-plan']!.sold).toBe(before['basic-plan']!.sold + 6);
    expect(after['gift-card']!.sold).toBe(before['gift-card']!.sold + 1);
    // And the order details should be stored in the Order Management System
    const [order] = await customer.orders();
    expect(order).toMatchObject({ id: res.body.orderId, purchaseId: id, total: { amount: charged, currency: 'USD' } });
    expect([...order.appliedRules].sort()).toEqual(['partner-bonus', 'vip-discount']);
    expect(order.items).toEqual([
      { productId: 'basic-plan', quantity: 6, unitPrice: 999, customization: {} },
      { productId: 'gift-card', quantity: 1, unitPrice: 0, customization: {} },
    ]);
    // And the customer should receive a confirmation message with the order details
    const [confirmation] = await notes(customer, id, 'order_confirmation');
    expect(confirmation.details).toMatchObject({ orderId: order.id, total: { amount: charged }, items: order.items });
    expect([...confirmation.details.appliedRules].sort()).toEqual(['partner-bonus', 'vip-discount']);
    expect(confirmation.message).toContain('$53.95');
  });

  it('Purchase orchestration with asynchronous processing', async () => {
    const customer = await sys.customer();
    fake.set({ slowMs: 300 }); // the integration takes a while, so the 202 must come back first
    try {
      const res = await customer.purchase(
        { items: [{ productId: 'analytics', quantity: 1 }], payment: visa },
        { async: true },
      );
      const id = track(customer, res);
      // Then the Purchase Orchestrator should initiate the asynchronous purchase process
      expect(res.status).toBe(202);
      expect(res.headers.get('preference-applied')).toBe('respond-async');
      // And the customer should receive an acknowledgment of the purchase request
      expect(res.body).toEqual({ id, status: 'accepted', statusUrl: `/v1/purchases/${id}` });
      expect(res.headers.get('location')).toBe(res.body.statusUrl);
      const [ack] = await notes(customer, id, 'purchase_accepted');
      expect(ack.details).toEqual({ statusUrl: res.body.statusUrl });
      // And the purchase process should continue in the background
      expect(TERMINAL).not.toContain((await customer.get(res.body.statusUrl)).body.status);
      expect(await notes(customer, id, 'order_confirmation')).toEqual([]);
      const done = await customer.waitForTerminal(id);
      expect(done.status).toBe('completed');
      expect(done.steps.every((s: any) => s.status === 'completed')).toBe(true);
      // And the product should be provisioned to the customer when the process completes
      const [unit] = await unitsOf(customer, id);
      expect(unit).toMatchObject({
        productId: 'analytics',
        status: 'active',
        integration: { status: 'established', externalRef: `ext-${unit.id}` },
      });
      expect(fake.requests.filter((r) => r.body?.purchaseId === id && r.body.event === 'provision')).toHaveLength(1);
      // And the order details should be stored in the Order Management System
      const orders = await customer.orders();
      expect(orders).toHaveLength(1);
      expect(orders[0]).toMatchObject({
        id: done.orderId,
        purchaseId: id,
        items: [{ productId: 'analytics', quantity: 1, unitPrice: 2999 }],
        total: { amount: 2999 },
      });
      // And the customer should receive a confirmation message with the order details once the process is finished
      const [confirmation] = await notes(customer, id, 'order_confirmation');
      expect(confirmation.details).toMatchObject({ orderId: done.orderId, total: { amount: 2999, currency: 'USD' } });
    } finally {
      fake.set('ok');
    }
  });

  describe('partial fulfilment', () => {
    it('answers out_of_stock when no line can be fulfilled, charging and ordering nothing', async () => {
      const customer = await sys.customer();
      const before = await stocks(['sold-out', 'scarce']);
      const items = [
        { productId: 'sold-out', quantity: 1 },
        { productId: 'scarce', quantity: 4 },
      ];
      const res = await customer.purchase({ items, payment: visa, outOfStock: 'backorder' });
      const id = track(customer, res);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'out_of_stock', purchaseId: id });
      const state = await customer.purchaseState(id);
      expect(state.payment).toEqual({ status: 'none', amount: 0, currency: 'USD' });
      expect(await providerPaymentOf(sys, id)).toBeUndefined();
      expect(await customer.orders()).toEqual([]);
      expect(await stocks(['sold-out', 'scarce'])).toEqual(before);
    });

    it('gives the last units to the first of two lines competing for them', async () => {
      const customer = await sys.customer();
      const items = [
        { productId: 'scarce', quantity: 2 },
        { productId: 'scarce', quantity: 2 },
      ];
      const res = await customer.purchase({ items, payment: visa });
      track(customer, res);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        status: 'partially_fulfilled',
        items: [{ productId: 'scarce', quantity: 2 }],
        removed: [{ productId: 'scarce', quantity: 2 }],
      });
      expect(res.body.payment.amount).toBe(2000);
      expect(await sys.stores.catalog.stock('scarce')).toMatchObject({ available: 1, reserved: 0, sold: 2 });
      expect((await customer.product('scarce')).available).toBe(1);
      const [order] = await customer.orders();
      expect(order.items).toEqual([{ productId: 'scarce', quantity: 2, unitPrice: 1000, customization: {} }]);
    });

    it('counts a dependency against the same stock as the product itself', async () => {
      const customer = await sys.customer();
      // edge-server needs one ipv4-block and only one exists: the dependency takes it first
      const items = [
        { productId: 'edge-server', quantity: 1 },
        { productId: 'ipv4-block', quantity: 1 },
      ];
      const res = await customer.purchase({ items, payment: visa });
      const id = track(customer, res);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        status: 'partially_fulfilled',
        items: [{ productId: 'edge-server' }],
        removed: [{ productId: 'ipv4-block', quantity: 1 }],
      });
      expect(res.body.payment.amount).toBe(1500);
      expect(await sys.stores.catalog.stock('ipv4-block')).toMatchObject({ available: 0, reserved: 0, sold: 1 });
      const units = await unitsOf(customer, id);
      expect(units.map((u) => [u.productId, u.dependencyOf]).sort()).toEqual([
        ['edge-server', null],
        ['ipv4-block', 'edge-server'],
      ]);
    });
  });

  describe('business rules', () => {
    it('rejects a purchase a rule forbids with rule_rejected, charging and ordering nothing', async () => {
      const customer = await sys.customer();
      const before = await stocks(['gift-card']);
      const res = await customer.purchase({ items: [{ productId: 'gift-card', quantity: 6 }], payment: visa });
      const id = track(customer, res);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'rule_rejected', purchaseId: id });
      expect(res.body.detail).toContain('at most 5 gift cards per order');
      const state = await customer.purchaseState(id);
      expect(state).toMatchObject({
        status: 'failed',
        error: { code: 'rule_rejected', step: 'validation' },
        payment: { status: 'none', amount: 0 },
      });
      expect(await customer.orders()).toEqual([]);
      expect(await customer.provisioned()).toEqual([]);
      expect(await stocks(['gift-card'])).toEqual(before);
    });

    it('applies a discount only when the token carries the role the rule asks for', async () => {
      const vip = await sys.customer(undefined, ['vip']);
      const plain = await sys.customer();
      const discounted = await vip.buy('basic-plan');
      const full = await plain.buy('basic-plan');
      track(vip, discounted);
      track(plain, full);
      expect(discounted.status).toBe(201);
      expect(discounted.body.payment).toEqual({ status: 'captured', amount: 899, currency: 'USD' });
      const [vipOrder] = await vip.orders();
      expect(vipOrder).toMatchObject({
        total: { amount: 899 },
        appliedRules: ['vip-discount'],
        items: [{ unitPrice: 999 }],
      });
      expect(full.status).toBe(201);
      expect(full.body.payment.amount).toBe(999);
      const [plainOrder] = await plain.orders();
      expect(plainOrder).toMatchObject({ total: { amount: 999 }, appliedRules: [] });
    });

    it('adds a free item that is provisioned but not charged, when the order total qualifies', async () => {
      const partner = await sys.customer(undefined, ['partner']);
      const small = await sys.customer(undefined, ['partner']);
      const before = await stocks(['gift-card']);
      const res = await partner.purchase({ items: [{ productId: 'basic-plan', quantity: 6 }], payment: visa });
      const id = track(partner, res);
      expect(res.status).toBe(201);
      expect(res.body.payment.amount).toBe(5994);
      const [order] = await partner.orders();
      expect(order).toMatchObject({ total: { amount: 5994 }, appliedRules: ['partner-bonus'] });
      expect(order.items).toContainEqual({ productId: 'gift-card', quantity: 1, unitPrice: 0, customization: {} });
      const gift = (await unitsOf(partner, id)).filter((u) => u.productId === 'gift-card');
      expect(gift.map((u) => u.status)).toEqual(['active']);
      expect((await stocks(['gift-card']))['gift-card']!.sold).toBe(before['gift-card']!.sold + 1);
      // below the threshold the rule does not fire
      const under = await small.buy('basic-plan');
      track(small, under);
      expect(under.status).toBe(201);
      expect(under.body.items.map((i: any) => i.productId)).toEqual(['basic-plan']);
      expect((await small.orders())[0].appliedRules).toEqual([]);
    });
  });

  describe('faults', () => {
    /** The step a fault point fails: its own step's, and provisioning for a partner call. */
    const failingStep: Record<string, string> = {
      ...Object.fromEntries(STEPS.flatMap((s) => (s.fault ? [[s.fault, s.name]] : []))),
      external: 'provisioning',
    };

    // Every fault point but the charge's (a failed charge refunds nothing: its own test below).
    it.each(FAULT_POINTS.filter((point) => point !== 'payment.charge'))(
      'a step failing for good at %s rolls everything back and voids the hold once',
      async (point) => {
        const customer = await sys.customer();
        const [items, products] =
          point === 'external'
            ? [[{ productId: 'analytics', quantity: 1 }], ['analytics']]
            : [[proPlan('fault.example')], ['pro-plan', 'ip-address']];
        const { res, id, before, state } = await purchaseWithFault(customer, point, items, products);
        const step = failingStep[point]!;
        expect(res.status).toBe(502);
        expect(res.body).toMatchObject({ code: 'purchase_failed', purchaseId: id });
        expect(state).toMatchObject({
          status: 'failed',
          error: { code: 'purchase_failed', step },
          payment: { status: 'voided' },
        });
        expect(state.payment.amount).toBeGreaterThan(0);
        expectRolledBackSteps(state, step);
        expect(await stocks(products)).toEqual(before);
        const units = await expectNothingActive(customer, id);
        expect(units).toHaveLength(point === 'order.place' ? 2 : 0);
        expect(await ordersOf(customer, id)).toEqual([]);
        await expectOneFailureNotice(customer, id, step, false);
      },
    );

    it('an integration failing after other units were provisioned deprovisions those units too', async () => {
      const customer = await sys.customer();
      const products = ['pro-plan', 'ip-address', 'analytics'];
      const items = [proPlan('mixed.example'), { productId: 'analytics', quantity: 1 }];
      const { res, id, before, state } = await purchaseWithFault(customer, 'external', items, products);
      expect(res.status).toBe(502);
      expect(state).toMatchObject({
        status: 'failed',
        error: { code: 'purchase_failed', step: 'provisioning' },
        payment: { status: 'voided', amount: 4998 },
      });
      // pro-plan and its ip-address were provisioned before analytics failed; the step undid that part of its work
      const units = await expectNothingActive(customer, id);
      expect(units.map((u) => u.productId).sort()).toEqual(['ip-address', 'pro-plan']);
      expect(statuses(state)).toMatchObject({
        inventory_update: 'compensated',
        provisioning: 'compensated',
        order_placement: 'skipped',
      });
      expect(await stocks(products)).toEqual(before);
      expect(await ordersOf(customer, id)).toEqual([]);
      await expectOneFailureNotice(customer, id, 'provisioning', false);
    });

    it("an integration that is down during compensation still deprovisions the purchase's other units", async () => {
      const customer = await sys.customer();
      const products = ['pro-plan', 'ip-address', 'analytics'];
      const before = await stocks(products);
      fake.set({ status: 503 });
      try {
        const res = await customer.purchase({
          items: [proPlan('down.example'), { productId: 'analytics', quantity: 1 }],
          payment: visa,
        });
        const id = track(customer, res);
        expect(res.status).toBe(502);
        const state = await customer.waitForSettled(id);
        expect(state).toMatchObject({
          status: 'failed',
          error: { code: 'purchase_failed', step: 'provisioning' },
          payment: { status: 'voided' },
        });
        // the units that need no outside service are undone even though the outside one could not be
        const units = await unitsOf(customer, id);
        expect(units.map((u) => [u.productId, u.status]).sort()).toEqual([
          ['ip-address', 'deprovisioned'],
          ['pro-plan', 'deprovisioned'],
        ]);
        // the outside service never confirmed the removal: the purchase is left for an operator, visibly
        expect(state.review).toMatchObject({ status: 'manual_review' });
        expect(state.review.reason).toMatch(/analytics|deprovision/);
        expect(await stocks(products)).toEqual(before);
      } finally {
        fake.set('ok');
      }
    });

    it.each([
      ['is down for good (500 to provision and deprovision alike)', { status: 500 }],
      ['hangs (never answers; INTEGRATION_TIMEOUT_MS bounds each call)', 'hang'],
    ] as const)(
      'a partner that %s: the sync request answers 502 with the hold voided, the cleanup goes on visibly and ends in review',
      async (_, behaviour) => {
        const customer = await sys.customer();
        const before = await stocks(['analytics']);
        fake.set(behaviour);
        try {
          const res = await customer.purchase({ items: [{ productId: 'analytics', quantity: 1 }], payment: visa });
          const id = track(customer, res);
          // Answered within SYNC_TIMEOUT_MS (else 202), without waiting for the deprovision's retries.
          expect(res.status).toBe(502);
          expect(res.body).toMatchObject({ code: 'purchase_failed', purchaseId: id });
          const answered = await customer.purchaseState(id);
          expect(answered).toMatchObject({
            status: 'failed',
            error: { code: 'purchase_failed', step: 'provisioning' },
            payment: { status: 'voided' },
          });
          expect(await stocks(['analytics'])).toEqual(before);
          // The partner's cleanup shows on the step while it is still worked on (or already given up).
          expect(answered.steps.find((s: any) => s.name === 'provisioning').undo.status).toMatch(
            /^(pending|retrying|failed)$/,
          );
          const settled = await customer.waitForSettled(id);
          expect(settled.steps.find((s: any) => s.name === 'provisioning')).toMatchObject({
            status: 'failed',
            undo: { status: 'failed', attempts: Number(sys.config.COMPENSATION_ATTEMPTS) },
          });
          expect(settled.review).toMatchObject({ status: 'manual_review' });
          expect(settled.payment.status).toBe('voided');
        } finally {
          fake.set('ok');
        }
      },
    );

    it('a payment that cannot be taken fails with payment_failed and charges nothing', async () => {
      const customer = await sys.customer();
      const { res, id, before, state } = await purchaseWithFault(
        customer,
        'payment.charge',
        [{ productId: 'basic-plan', quantity: 1 }],
        ['basic-plan'],
      );
      expect(res.status).toBe(402);
      expect(res.body).toMatchObject({ code: 'payment_failed', purchaseId: id });
      expect(state.payment.status).toBe('none');
      expect(await providerPaymentOf(sys, id)).toBeUndefined();
      expectRolledBackSteps(state, 'payment');
      expect(await stocks(['basic-plan'])).toEqual(before);
      expect(await customer.orders()).toEqual([]);
      expect((await notes(customer, id)).map((n) => n.type)).toEqual(['payment_failed']);
    });

    it('a single failure at inventory.commit is retried and the purchase completes', async () => {
      const customer = await sys.customer();
      const before = await stocks(['basic-plan']);
      await armFault('inventory.commit', 1);
      let res: HttpResult;
      try {
        res = await customer.buy('basic-plan');
      } finally {
        await sys.admin('DELETE', '/admin/faults');
      }
      const id = track(customer, res);
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('completed');
      expect(res.body.steps.every((s: any) => s.status === 'completed')).toBe(true);
      // the fault did fire: the commit needed a second attempt
      expect(await attemptsOf(id, 'inventory_update')).toBe(2);
      expect((await stocks(['basic-plan']))['basic-plan']).toEqual({
        ...before['basic-plan'],
        available: before['basic-plan']!.available - 1,
        sold: before['basic-plan']!.sold + 1,
      });
      expect(await ordersOf(customer, id)).toHaveLength(1);
    });
  });

  describe('payments', () => {
    it('a declined card ends in payment_failed with nothing provisioned, ordered or taken from stock', async () => {
      const customer = await sys.customer();
      const before = await stocks(['pro-plan', 'ip-address']);
      const res = await customer.purchase({ items: [proPlan('declined.example')], payment: { token: 'tok_declined' } });
      const id = track(customer, res);
      expect(res.status).toBe(402);
      expect(res.body).toMatchObject({ code: 'payment_failed', purchaseId: id });
      expect(await attemptsOf(id, 'payment')).toBe(1); // a decline is an answer, not retried
      expect((await notes(customer, id)).map((n) => n.type)).toEqual(['payment_failed']);
      expect(await customer.provisioned()).toEqual([]);
      expect(await customer.orders()).toEqual([]);
      expect(await stocks(['pro-plan', 'ip-address'])).toEqual(before);
      expect(await sys.stores.inventory.quotaHeld(customer.id, 'pro-plan')).toBe(0);
    });

    it('holds the money at the payment step and takes exactly the order total at the pivot, once', async () => {
      const customer = await sys.customer();
      const res = await customer.purchase({ items: [proPlan('hold.example')], payment: visa });
      const id = track(customer, res);
      expect(res.status).toBe(201);
      const [order] = await ordersOf(customer, id);
      expect(await providerPaymentOf(sys, id)).toMatchObject({
        state: 'captured',
        amount: order.total.amount,
        captured: order.total.amount,
        refunded: 0,
      });
      // The step that authorizes is not the one that captures: the pivot took it, just before the order.
      expect((await sys.stores.purchases.get(id))!.payment).toMatchObject({
        status: 'captured',
        paymentId: expect.any(String),
      });
    });

    it('a capture refused at the pivot (the hold expired) fails the purchase with payment_failed and undoes everything', async () => {
      const customer = await sys.customer();
      const before = await stocks(['pro-plan', 'ip-address']);
      const res = await customer.purchase({
        items: [proPlan('expired.example')],
        payment: { token: 'tok_capture_fails' },
      });
      const id = track(customer, res);
      expect(res.status).toBe(402);
      expect(res.body).toMatchObject({ code: 'payment_failed', purchaseId: id });
      const state = await customer.waitForSettled(id);
      expect(state).toMatchObject({
        status: 'failed',
        error: { code: 'payment_failed', step: 'order_placement' },
        payment: { status: 'voided', amount: 1999 },
      });
      expect(state.error.detail).toMatch(/expired/);
      expectRolledBackSteps(state, 'order_placement');
      expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', captured: 0, refunded: 0 });
      expect(await customer.orders()).toEqual([]);
      expect(await expectNothingActive(customer, id)).toHaveLength(2);
      expect(await stocks(['pro-plan', 'ip-address'])).toEqual(before);
      expect((await notes(customer, id)).map((n) => n.type)).toEqual(['payment_failed']);
    });

    it('with PAYMENT_CAPTURE=immediate the payment step takes the money, and a later failure refunds it', async () => {
      const own = await startTestSystem({ env: { PAYMENT_CAPTURE: 'immediate' } });
      extraSystems.push(own);
      const customer = await own.customer();
      const done = await customer.purchase({ items: [{ productId: 'basic-plan', quantity: 1 }], payment: visa });
      expect(done.status).toBe(201);
      expect(await providerPaymentOf(own, done.body.id)).toMatchObject({ state: 'captured', captured: 999 });
      expect((await own.admin('POST', '/admin/faults', { point: 'order.place', times: 10 })).status).toBe(201);
      const failed = await customer.purchase({ items: [{ productId: 'basic-plan', quantity: 1 }], payment: visa });
      expect(failed.status).toBe(502);
      const state = await customer.waitForSettled(failed.body.purchaseId);
      expect(state.payment).toEqual({ status: 'refunded', amount: 999, currency: 'USD' });
      expect(await providerPaymentOf(own, failed.body.purchaseId)).toMatchObject({
        state: 'refunded',
        captured: 999,
        refunded: 999,
      });
      const [notice] = (await customer.notifications()).filter((n) => n.type === 'purchase_failed');
      expect(notice).toMatchObject({ details: { refunded: true } });
      expect(notice.message).toContain('refunded');
    });

    it('a provider error is retried, then ends in payment_failed', async () => {
      const customer = await sys.customer();
      const before = await stocks(['basic-plan']);
      const res = await customer.purchase({
        items: [{ productId: 'basic-plan', quantity: 1 }],
        payment: { token: 'tok_error' },
      });
      const id = track(customer, res);
      expect(res.status).toBe(402);
      expect(res.body).toMatchObject({ code: 'payment_failed', purchaseId: id });
      expect(await attemptsOf(id, 'payment')).toBe(sys.config.STEP_ATTEMPTS);
      expect((await customer.purchaseState(id)).payment.status).toBe('none');
      expect((await notes(customer, id)).map((n) => n.type)).toEqual(['payment_failed']);
      expect(await customer.orders()).toEqual([]);
      expect(await stocks(['basic-plan'])).toEqual(before);
    });
  });

  describe('asynchronous processing', () => {
    it('answers 202 without the Prefer header when PURCHASE_MODE is async', async () => {
      const own = await startTestSystem({ env: { PURCHASE_MODE: 'async' } });
      extraSystems.push(own);
      const customer = await own.customer();
      const res = await customer.buy('basic-plan');
      const id = track(customer, res);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ id, status: 'accepted', statusUrl: `/v1/purchases/${id}` });
      expect(res.headers.get('location')).toBe(res.body.statusUrl);
      expect((await notes(customer, id)).map((n) => n.type)).toContain('purchase_accepted');
      const done = await customer.waitForTerminal(id);
      expect(done.status).toBe('completed');
      expect(await customer.orders()).toHaveLength(1);
    });

    it('answers 202 with the status URL when a sync purchase outlasts SYNC_TIMEOUT_MS, then completes', async () => {
      const slow = await startFakeService({ slowMs: 1_000 });
      extraFakes.push(slow);
      const own = await startTestSystem({
        catalog: testCatalog(slow.url),
        env: { SYNC_TIMEOUT_MS: '1', INTEGRATION_TIMEOUT_MS: '3000' },
      });
      extraSystems.push(own);
      const customer = await own.customer();
      const res = await customer.buy('analytics');
      const id = track(customer, res);
      expect(res.status).toBe(202);
      expect(res.headers.get('preference-applied')).toBeNull();
      expect(res.body).toMatchObject({ id, statusUrl: `/v1/purchases/${id}` });
      expect(['accepted', 'processing']).toContain(res.body.status);
      expect(res.headers.get('location')).toBe(res.body.statusUrl);
      const done = await customer.waitForTerminal(id);
      expect(done.status).toBe('completed');
      const [unit] = await customer.provisioned();
      expect(unit).toMatchObject({ productId: 'analytics', purchaseId: id, status: 'active' });
      expect(await customer.orders()).toHaveLength(1);
    });
  });
});
