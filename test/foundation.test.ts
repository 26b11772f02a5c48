import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { STEPS_IN_ORDER, visa } from './helpers/customer.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

describe('foundation: the whole purchase path', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(async () => sys?.stop());

  it('Successful purchase with valid JWT', async () => {
    const customer = await sys.customer();
    const before = (await customer.product('basic-plan')).available;
    const res = await customer.buy('basic-plan');
    // the gateway validated the JWT (else 401) and sent the request to the orchestrator (a saga ran)
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.steps.every((s: { status: string }) => s.status === 'completed')).toBe(true);
    // the customer received a success response with the purchase
    expect(res.headers.get('location')).toBe(`/v1/purchases/${res.body.id}`);
    expect(res.body.payment).toEqual({ status: 'captured', amount: 999, currency: 'USD' });
    expect((await customer.product('basic-plan')).available).toBe(before - 1);
  });

  it('Successful purchase orchestration', async () => {
    const customer = await sys.customer();
    const before = await sys.stores.catalog.stock('pro-plan');
    const res = await customer.buy('pro-plan', 1, { domain: 'shop.example' });
    expect(res.status).toBe(201);
    const id = res.body.id;
    // the orchestrator coordinated the purchase process: every step ran in order
    expect(res.body.steps.map((s: { name: string }) => s.name)).toEqual([...STEPS_IN_ORDER]);
    expect(res.body.steps.every((s: { status: string }) => s.status === 'completed')).toBe(true);
    expect(res.body.payment.status).toBe('captured');
    // the product was provisioned to the customer
    const provisioned = await customer.provisioned();
    expect(provisioned.find((p) => p.productId === 'pro-plan')).toMatchObject({
      purchaseId: id,
      status: 'active',
      customization: { domain: 'shop.example' },
    });
    // the order details were stored in the Order Management System
    const orders = await customer.orders();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      id: res.body.orderId,
      purchaseId: id,
      customerId: customer.id,
      status: 'placed',
      total: { amount: 1999, currency: 'USD' },
    });
    expect(orders[0].items).toEqual([
      { productId: 'pro-plan', quantity: 1, unitPrice: 1999, customization: { domain: 'shop.example' } },
    ]);
    expect((await customer.get(`/v1/orders/${res.body.orderId}`)).body.id).toBe(res.body.orderId);
    // the customer received a confirmation message with the order details
    const confirmation = (await customer.notifications()).find((n) => n.type === 'order_confirmation');
    expect(confirmation).toMatchObject({
      purchaseId: id,
      details: { orderId: res.body.orderId, total: { amount: 1999, currency: 'USD' } },
    });
    expect(confirmation.message).toContain(res.body.orderId);
    // stock: one sold, none left reserved
    const after = await sys.stores.catalog.stock('pro-plan');
    expect(after.available).toBe(before.available - 1);
    expect(after.sold).toBe(before.sold + 1);
    expect(after.reserved).toBe(before.reserved);
  });

  it('Purchase orchestration with asynchronous processing', async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(
      { items: [{ productId: 'basic-plan', quantity: 2 }], payment: visa },
      { async: true },
    );
    // acknowledgment of the purchase request
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: res.body.id, status: 'accepted', statusUrl: `/v1/purchases/${res.body.id}` });
    expect(res.headers.get('location')).toBe(res.body.statusUrl);
    expect((await customer.notifications()).map((n) => n.type)).toContain('purchase_accepted');
    // the purchase continues in the background and completes
    const done = await customer.waitForTerminal(res.body.id);
    expect(done.status).toBe('completed');
    // the product is provisioned and the order stored once the process completes
    const provisioned = await customer.provisioned();
    expect(provisioned.filter((p) => p.productId === 'basic-plan' && p.status === 'active')).toHaveLength(2);
    const [order] = await customer.orders();
    expect(order).toMatchObject({
      purchaseId: res.body.id,
      items: [{ productId: 'basic-plan', quantity: 2, unitPrice: 999 }],
      total: { amount: 1998 },
    });
    // and a confirmation with the order details arrives once it is finished
    const confirmation = await eventually('order confirmation', async () =>
      (await customer.notifications()).find((n) => n.type === 'order_confirmation'),
    );
    expect(confirmation.details.orderId).toBe(order.id);
  });

  it('Successful product provisioning', async () => {
    const customer = await sys.customer();
    const before = (await customer.product('storage-addon')).available;
    const res = await customer.buy('storage-addon', 1, { sizeGb: 100 });
    expect(res.status).toBe(201);
    // provisioned successfully, stored in the Product Store
    const [unit] = await customer.provisioned();
    expect(unit).toMatchObject({
      productId: 'storage-addon',
      purchaseId: res.body.id,
      status: 'active',
      customization: { sizeGb: 100 },
      dependencyOf: null,
    });
    // a confirmation message for the product
    const notes = await customer.notifications();
    expect(notes.find((n) => n.type === 'product_provisioned')).toMatchObject({
      purchaseId: res.body.id,
      details: { productId: 'storage-addon' },
    });
    expect((await customer.product('storage-addon')).available).toBe(before - 1);
  });

  it('rejects a request without a token or with a bad one', async () => {
    const noToken = await fetch(`${sys.gatewayUrl}/v1/purchases`, { method: 'POST', body: '{}' });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('content-type')).toContain('application/problem+json');
    expect(await noToken.json()).toMatchObject({ code: 'missing_token', status: 401 });
    const bad = await fetch(`${sys.gatewayUrl}/v1/purchases`, {
      method: 'POST',
      headers: { authorization: 'Bearer abc.def.ghi' },
      body: '{}',
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ code: 'invalid_token' });
  });

  it("answers unknown routes and other customers' purchases with not_found", async () => {
    const alice = await sys.customer();
    const bob = await sys.customer();
    const res = await alice.buy('basic-plan');
    const peek = await bob.get(`/v1/purchases/${res.body.id}`);
    expect(peek.status).toBe(404);
    expect(peek.body.code).toBe('not_found');
    expect((await bob.get(`/v1/orders/${res.body.orderId}`)).status).toBe(404);
    expect((await bob.get('/v1/nothing-here')).body.code).toBe('not_found');
  });
});

describe('operations: metrics and logs', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(async () => sys?.stop());

  it('exports step, outcome, compensation and queue metrics beside the gateway ones', async () => {
    const customer = await sys.customer();
    expect((await customer.buy('basic-plan')).status).toBe(201);
    await sys.admin('POST', '/admin/faults', { point: 'order.place', times: 10 });
    expect((await customer.buy('basic-plan')).status).toBe(502);
    await sys.admin('DELETE', '/admin/faults');
    const text = await (await fetch(`${sys.gatewayUrl}/metrics`)).text();
    expect(text).toMatch(/^purchases_finished_total\{status="completed",code=""\} 1$/m);
    expect(text).toMatch(/^purchases_finished_total\{status="failed",code="purchase_failed"\} 1$/m);
    expect(text).toMatch(/^saga_compensations_total\{step="payment",outcome="compensated"\} 1$/m);
    expect(text).toMatch(/^saga_step_duration_seconds_count\{step="payment",outcome="completed"\} 2$/m);
    expect(text).toMatch(/^queue_jobs\{queue="orchestrator",state="waiting"\} \d+$/m);
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/v1\/purchases\/?",status="201"\} 1$/m);
  });
});

describe('catalog loading', () => {
  it('a restart with an edited catalog adds new products and updates descriptions but never resets known stock', async () => {
    const first = await startTestSystem();
    const prefix = first.config.KEY_PREFIX;
    try {
      const customer = await first.customer();
      expect((await customer.buy('basic-plan', 3)).status).toBe(201);
    } finally {
      await first.stop();
    }
    const edited = testCatalog().map((p) =>
      p.id === 'basic-plan' ? { ...p, name: 'Basic plan (2027)', stock: 5 } : p,
    );
    edited.push({
      id: 'new-thing',
      name: 'New thing',
      price: { amount: 100, currency: 'USD' },
      stock: 7,
      dependencies: [],
    });
    const second = await startTestSystem({ catalog: edited, env: { KEY_PREFIX: prefix } });
    try {
      const customer = await second.customer();
      const basic = await customer.product('basic-plan');
      expect(basic.name).toBe('Basic plan (2027)');
      expect(basic.available).toBe(97); // 100 stocked, 3 sold: the file's new "5" does not reset it
      expect((await customer.product('new-thing')).available).toBe(7);
    } finally {
      await second.stop();
    }
  });
});
