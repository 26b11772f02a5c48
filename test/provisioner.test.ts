import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import { unitsOf, visa, type Customer, type HttpResult } from './helpers/customer.js';
import { startFakeService, type RecordedRequest } from './helpers/fake-service.js';
import { writeCatalog } from './helpers/processes.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/**
 * An integration endpoint of our own whose next `failNext` provision calls answer
 * 500 before it answers 200 like the fake service: a deterministic "fails once, then
 * works" without racing the step's retry backoff.
 */
async function startFlakyService() {
  const requests: { headers: http.IncomingHttpHeaders; body: any; status: number }[] = [];
  const state = { failNext: 0 };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      const fail = body.event === 'provision' && state.failNext > 0;
      if (fail) state.failNext--;
      const status = fail ? 500 : 200;
      requests.push({ headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(fail ? { error: 'boom' } : { externalRef: `ext-${body.provisionedId}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/provision`,
    requests,
    state,
    stop: () => new Promise((r) => server.close(r)),
  };
}

/** A Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
/** The variable the signed partner's secret is in (contract §5.1: the catalog names it, never holds it). */
const SECRET_ENV = 'PROVISIONER_TEST_PARTNER_SECRET';
const SECRET = newSecret();
/** The signed partner's latency in the side-by-side tests: above INTEGRATION_TIMEOUT_MS, within its own timeoutMs. */
const SLOW_MS = 1_000;
/** A timer may fire a hair early by the wall clock. */
const TIMER_SLACK_MS = 5;

/** The Standard Webhooks headers of a recorded call, as a partner hands them to its verifier. */
const signatureOf = (call: RecordedRequest) =>
  Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(call.headers[h])]));

/** Runs `src/main.ts` as a process of its own with `env`; resolves with its exit code and what it printed. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

const PRODUCTS = [
  'basic-plan',
  'pro-plan',
  'ip-address',
  'storage-addon',
  'analytics',
  'sold-out',
  'gift-card',
  'bundle',
  'rare-part',
];

describe('Feature: Product Provisioner', () => {
  let sys: TestSystem;
  let fake: Awaited<ReturnType<typeof startFakeService>>;
  let flaky: Awaited<ReturnType<typeof startFlakyService>>;
  /** A partner whose calls are signed with SECRET. */
  let signed: Awaited<ReturnType<typeof startFakeService>>;

  beforeAll(async () => {
    fake = await startFakeService('ok');
    flaky = await startFlakyService();
    signed = await startFakeService('ok');
    const partner = { url: signed.url, secretEnv: SECRET_ENV, timeoutMs: 10 * SLOW_MS };
    const signedProduct = (id: string, dependencies: string[] = []): Product => ({
      id,
      name: `${id} (signed partner)`,
      price: { amount: 1000, currency: 'USD' },
      stock: 100,
      dependencies,
      integration: partner,
    });
    const extra: Product[] = [
      // A product whose only dependency is sold out: nothing to provision it with.
      {
        id: 'bundle',
        name: 'Bundle',
        price: { amount: 1500, currency: 'USD' },
        stock: 10,
        dependencies: ['rare-part'],
      },
      { id: 'rare-part', name: 'Rare part', price: { amount: 100, currency: 'USD' }, stock: 0, dependencies: [] },
      {
        id: 'flaky-analytics',
        name: 'Analytics (flaky endpoint)',
        price: { amount: 2999, currency: 'USD' },
        stock: 10,
        dependencies: [],
        integration: { url: flaky.url },
      },
      // An app built on an address, both from the signed partner, and a unit that stands alone.
      signedProduct('signed-app', ['signed-ip']),
      signedProduct('signed-ip'),
      signedProduct('signed-solo'),
    ];
    sys = await startTestSystem({ catalog: [...testCatalog(fake.url), ...extra], env: { [SECRET_ENV]: SECRET } });
  });
  afterEach(async () => {
    fake.set('ok');
    signed.set('ok');
    await sys.admin('DELETE', '/admin/faults');
  });
  afterAll(async () => {
    await sys?.stop();
    await fake?.stop();
    await flaky?.stop();
    await signed?.stop();
  });

  const stockOf = async (ids = PRODUCTS) =>
    Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await sys.stores.catalog.stock(id)] as const)));
  const arm = async (point: string, times: number) =>
    expect((await sys.admin('POST', '/admin/faults', { point, times })).status).toBeLessThan(300);
  const notesOf = async (customer: Customer, purchaseId: string, type: string) =>
    (await customer.notifications()).filter((n) => n.purchaseId === purchaseId && n.type === type);
  const fromService = (purchaseId: string, event: string) =>
    fake.requests.filter((r) => r.body?.purchaseId === purchaseId && r.body?.event === event);

  /** The purchase was rejected with `code`: problem+json, a purchase id, status failed, nothing charged. */
  async function expectRejected(customer: Customer, res: HttpResult, status: number, code: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ code, status });
    expect(res.body.purchaseId).toMatch(/^pur_/);
    const state = await customer.purchaseState(res.body.purchaseId);
    expect(state.status).toBe('failed');
    expect(state.error.code).toBe(code);
    expect(state.payment.status).toBe('none');
    expect(state.steps.find((s: any) => s.name === 'provisioning').status).not.toBe('completed');
    return state;
  }

  /** A failure that leaves nothing behind: no Product Store record, no stock moved, no product_provisioned. */
  async function expectNothingProvisioned(
    customer: Customer,
    purchaseId: string,
    stockBefore: Record<string, unknown>,
  ) {
    expect(await customer.provisioned()).toEqual([]);
    expect(await notesOf(customer, purchaseId, 'product_provisioned')).toEqual([]);
    expect(await customer.orders()).toEqual([]);
    expect(await stockOf()).toEqual(stockBefore);
  }

  it('Successful product provisioning', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const res = await customer.buy('basic-plan');
    // Then the product should be provisioned successfully
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.steps.find((s: any) => s.name === 'provisioning').status).toBe('completed');
    expect(res.body.payment).toEqual({ status: 'captured', amount: 999, currency: 'USD' });
    expect((await sys.stores.catalog.stock('basic-plan')).available).toBe(before['basic-plan']!.available - 1);
    // And the product details should be stored in the Product Store
    const units = await customer.provisioned();
    expect(units).toHaveLength(1);
    expect(units[0]).toMatchObject({
      productId: 'basic-plan',
      purchaseId: res.body.id,
      customization: {},
      dependencyOf: null,
      status: 'active',
    });
    expect(units[0].id).toEqual(expect.any(String));
    expect(units[0].integration?.status).not.toBe('established');
    // And the customer should receive a confirmation message
    const provisioned = await notesOf(customer, res.body.id, 'product_provisioned');
    expect(provisioned).toHaveLength(1);
    expect(provisioned[0]).toMatchObject({ details: { productId: 'basic-plan', quantity: 1 } });
    expect(provisioned[0].message).toContain('basic-plan');
    const [confirmation] = await notesOf(customer, res.body.id, 'order_confirmation');
    expect(confirmation.details.orderId).toBe(res.body.orderId);
  });

  it('Product not available in the inventory', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const res = await customer.buy('sold-out');
    // Then the product provisioning should fail
    const state = await expectRejected(customer, res, 409, 'out_of_stock');
    await expectNothingProvisioned(customer, state.id, before);
    // And an "out_of_stock" error message should be returned to the customer
    expect(res.body.code).toBe('out_of_stock');
    expect(res.body.detail).toEqual(expect.any(String));
    expect((await customer.product('sold-out')).available).toBe(0);
  });

  it('Invalid product selection', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const res = await customer.buy('no-such-product');
    // Then the product provisioning should fail
    const state = await expectRejected(customer, res, 422, 'invalid_product');
    await expectNothingProvisioned(customer, state.id, before);
    // And an "invalid_product" error message should be returned to the customer
    expect(res.body.code).toBe('invalid_product');
    expect(res.body.detail).toContain('no-such-product');
  });

  it('Provisioning a product with customization options', async () => {
    const customer = await sys.customer();
    const res = await customer.purchase({
      items: [
        { productId: 'pro-plan', quantity: 1, customization: { domain: 'shop.example' } },
        { productId: 'storage-addon', quantity: 1, customization: { sizeGb: 500 } },
      ],
      payment: { token: 'tok_visa' },
    });
    // Then the product should be provisioned successfully with the specified customizations
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.items.map((i: any) => i.customization)).toEqual([{ domain: 'shop.example' }, { sizeGb: 500 }]);
    // And the customized product details should be stored in the Product Store (exactly what was given)
    const units = await unitsOf(customer, res.body.id);
    expect(units.find((u) => u.productId === 'pro-plan')).toMatchObject({ status: 'active', dependencyOf: null });
    expect(units.find((u) => u.productId === 'pro-plan').customization).toEqual({ domain: 'shop.example' });
    expect(units.find((u) => u.productId === 'storage-addon').customization).toEqual({ sizeGb: 500 });
    const [order] = await customer.orders();
    expect(order.items.map((i: any) => i.customization)).toEqual([{ domain: 'shop.example' }, { sizeGb: 500 }]);
    // And the customer should receive a confirmation message
    const notes = await notesOf(customer, res.body.id, 'product_provisioned');
    expect(notes.map((n) => n.details.customization)).toEqual(
      expect.arrayContaining([{ domain: 'shop.example' }, { sizeGb: 500 }]),
    );
    expect(await notesOf(customer, res.body.id, 'order_confirmation')).toHaveLength(1);
  });

  it('Provisioning a product with missing customization details', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const res = await customer.buy('pro-plan', 1, {});
    // Then the product provisioning should fail (nothing charged, no stock moved)
    const state = await expectRejected(customer, res, 422, 'incomplete_customization');
    await expectNothingProvisioned(customer, state.id, before);
    // And an "incomplete_customization" error message should be returned to the customer
    expect(res.body.code).toBe('incomplete_customization');
    expect(res.body.detail).toContain('domain');
  });

  it('Provisioning multiple products in a single request', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const items = [
      { productId: 'basic-plan', quantity: 2 },
      { productId: 'storage-addon', quantity: 1, customization: { sizeGb: 50 } },
      { productId: 'gift-card', quantity: 3 },
    ];
    const res = await customer.purchase({ items, payment: { token: 'tok_visa' } });
    // Then all the products should be provisioned successfully
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.payment.amount).toBe(999 * 2 + 499 + 500 * 3);
    const after = await stockOf();
    for (const { productId, quantity } of items)
      expect(after[productId]!.available).toBe(before[productId]!.available - quantity);
    // And the product details should be stored in the Product Store
    const units = await unitsOf(customer, res.body.id);
    expect(units).toHaveLength(6);
    expect(units.every((u) => u.status === 'active' && u.dependencyOf === null)).toBe(true);
    for (const { productId, quantity } of items)
      expect(units.filter((u) => u.productId === productId)).toHaveLength(quantity);
    expect(new Set(units.map((u) => u.id)).size).toBe(6);
    // And the customer should receive a confirmation message for each provisioned product
    const notes = await notesOf(customer, res.body.id, 'product_provisioned');
    expect(notes.map((n) => [n.details.productId, n.details.quantity]).sort()).toEqual([
      ['basic-plan', 2],
      ['gift-card', 3],
      ['storage-addon', 1],
    ]);
    expect(await notesOf(customer, res.body.id, 'order_confirmation')).toHaveLength(1);
  });

  it('Provisioning a product with a limited quota', async () => {
    const customer = await sys.customer();
    // Given the customer has already reached the quota limit for the product (2)
    const first = await customer.buy('pro-plan', 2, { domain: 'one.example' });
    expect(first.status).toBe(201);
    const before = await stockOf();
    const res = await customer.buy('pro-plan', 1, { domain: 'two.example' });
    // Then the product provisioning should fail (nothing charged, no stock moved)
    const state = await expectRejected(customer, res, 409, 'quota_exceeded');
    expect(await stockOf()).toEqual(before);
    expect(await unitsOf(customer, state.id)).toEqual([]);
    expect(
      (await customer.provisioned()).filter((u) => u.productId === 'pro-plan' && u.status === 'active'),
    ).toHaveLength(2);
    // And a "quota_exceeded" error message should be returned to the customer
    expect(res.body.code).toBe('quota_exceeded');
    expect(res.body.detail).toContain('pro-plan');
  });

  it('Provisioning a product with dependencies', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    const res = await customer.buy('pro-plan', 2, { domain: 'deps.example' });
    // Then the product and its dependencies should be provisioned successfully
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    // (dependencies are not charged, but take one unit of stock each)
    expect(res.body.payment).toEqual({ status: 'captured', amount: 1999 * 2, currency: 'USD' });
    const after = await stockOf();
    expect(after['pro-plan']!.available).toBe(before['pro-plan']!.available - 2);
    expect(after['ip-address']!.available).toBe(before['ip-address']!.available - 2);
    expect(after['ip-address']!.sold).toBe(before['ip-address']!.sold + 2);
    // And the product and dependency details should be stored in the Product Store
    const units = await unitsOf(customer, res.body.id);
    expect(units).toHaveLength(4);
    expect(units.every((u) => u.status === 'active')).toBe(true);
    const products = units.filter((u) => u.productId === 'pro-plan');
    expect(products).toHaveLength(2);
    expect(products.every((u) => u.dependencyOf === null && u.customization.domain === 'deps.example')).toBe(true);
    const deps = units.filter((u) => u.productId === 'ip-address');
    expect(deps).toHaveLength(2);
    expect(deps.every((u) => u.dependencyOf === 'pro-plan')).toBe(true);
    // And the customer should receive a confirmation message
    const notes = await notesOf(customer, res.body.id, 'product_provisioned');
    expect(notes).toHaveLength(1);
    expect(notes[0].details).toMatchObject({ productId: 'pro-plan', quantity: 2, dependencies: ['ip-address'] });
    const [confirmation] = await notesOf(customer, res.body.id, 'order_confirmation');
    expect(confirmation.details.total).toEqual({ amount: 1999 * 2, currency: 'USD' });
  });

  it('Provisioning a product with missing dependencies', async () => {
    const customer = await sys.customer();
    const before = await stockOf();
    expect(before['bundle']!.available).toBeGreaterThan(0);
    const res = await customer.buy('bundle');
    // Then the product provisioning should fail (nothing charged, the product's stock untouched)
    const state = await expectRejected(customer, res, 409, 'missing_dependencies');
    await expectNothingProvisioned(customer, state.id, before);
    // And a "missing_dependencies" error message should be returned to the customer
    expect(res.body.code).toBe('missing_dependencies');
    expect(res.body.detail).toContain('rare-part');
  });

  it('Provisioning a product with an external service integration', async () => {
    const customer = await sys.customer();
    const res = await customer.buy('analytics');
    // Then the product should be provisioned successfully
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    // And the product details should be stored in the Product Store
    const units = await unitsOf(customer, res.body.id);
    expect(units).toHaveLength(1);
    expect(units[0]).toMatchObject({ productId: 'analytics', status: 'active', dependencyOf: null });
    // And the necessary integration with the external service should be established
    const calls = fromService(res.body.id, 'provision');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.headers['content-type']).toContain('application/json');
    expect(calls[0]!.headers['idempotency-key']).toEqual(expect.any(String));
    expect(calls[0]!.body).toMatchObject({ event: 'provision', provisionedId: units[0].id, productId: 'analytics' });
    expect(units[0].integration).toEqual({ status: 'established', externalRef: `ext-${units[0].id}` });
    expect(fromService(res.body.id, 'deprovision')).toEqual([]);
    // And the customer should receive a confirmation message
    expect(await notesOf(customer, res.body.id, 'product_provisioned')).toHaveLength(1);
    expect(await notesOf(customer, res.body.id, 'order_confirmation')).toHaveLength(1);
  });

  describe('customizations are checked against the product schema before anything is charged', () => {
    it.each([
      ['a value of the wrong type', 'pro-plan', { domain: 42 }],
      ['a value not matching the pattern', 'pro-plan', { domain: 'not a domain' }],
      ['a value outside the enum', 'storage-addon', { sizeGb: 42 }],
      ['a number sent as a string', 'storage-addon', { sizeGb: '100' }],
      ['a field the schema does not know', 'pro-plan', { domain: 'ok.example', color: 'red' }],
      ['customization for a product that takes none', 'basic-plan', { color: 'red' }],
    ])('rejects %s with invalid_customization', async (_what, productId, customization) => {
      const customer = await sys.customer();
      const before = await stockOf();
      const res = await customer.buy(productId, 1, customization);
      const state = await expectRejected(customer, res, 422, 'invalid_customization');
      await expectNothingProvisioned(customer, state.id, before);
    });
  });

  describe('quotas', () => {
    it('lets exactly quota-many of concurrent purchases through', async () => {
      const customer = await sys.customer();
      const before = await stockOf();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => customer.buy('pro-plan', 1, { domain: `race${i}.example` })),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(2);
      const rejected = results.filter((r) => r.status !== 201);
      expect(rejected.map((r) => [r.status, r.body.code])).toEqual(Array(4).fill([409, 'quota_exceeded']));
      for (const r of rejected) expect((await customer.purchaseState(r.body.purchaseId)).payment.status).toBe('none');
      const active = (await customer.provisioned()).filter((u) => u.status === 'active');
      expect(active.filter((u) => u.productId === 'pro-plan')).toHaveLength(2);
      expect(active.filter((u) => u.productId === 'ip-address')).toHaveLength(2);
      const after = await stockOf(['pro-plan', 'ip-address']);
      expect(after['pro-plan']!.available).toBe(before['pro-plan']!.available - 2);
      expect(after['ip-address']!.available).toBe(before['ip-address']!.available - 2);
    });

    it('counts each customer separately', async () => {
      const alice = await sys.customer();
      const bob = await sys.customer();
      expect((await alice.buy('pro-plan', 2, { domain: 'alice.example' })).status).toBe(201);
      expect((await bob.buy('pro-plan', 2, { domain: 'bob.example' })).status).toBe(201);
      expect((await alice.buy('pro-plan', 1, { domain: 'alice.example' })).body.code).toBe('quota_exceeded');
      expect((await bob.buy('pro-plan', 1, { domain: 'bob.example' })).body.code).toBe('quota_exceeded');
    });

    it('gives the quota back when the purchase fails after taking it', async () => {
      const customer = await sys.customer();
      await arm('order.place', 10);
      const failed = await customer.buy('pro-plan', 2, { domain: 'lost.example' });
      expect(failed.status).toBe(502);
      expect(failed.body.code).toBe('purchase_failed');
      expect((await customer.purchaseState(failed.body.purchaseId)).payment.status).toBe('voided');
      await sys.admin('DELETE', '/admin/faults');
      expect((await customer.buy('pro-plan', 2, { domain: 'again.example' })).status).toBe(201);
      expect((await customer.buy('pro-plan', 1, { domain: 'again.example' })).body.code).toBe('quota_exceeded');
    });
  });

  it('deprovisions the product and its dependency when the purchase is compensated', async () => {
    const customer = await sys.customer();
    const before = await stockOf(['pro-plan', 'ip-address']);
    await arm('order.place', 10);
    const res = await customer.buy('pro-plan', 1, { domain: 'undo.example' });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('purchase_failed');
    expect((await customer.purchaseState(res.body.purchaseId)).payment).toMatchObject({
      status: 'voided',
      amount: 1999,
    });
    // The deprovision runs beside the refund; once it is done the purchase shows it.
    const state = await customer.waitForSettled(res.body.purchaseId);
    expect(state.steps.find((s: any) => s.name === 'provisioning').status).toBe('compensated');
    const units = await unitsOf(customer, res.body.purchaseId);
    expect(units.map((u) => [u.productId, u.dependencyOf, u.status]).sort()).toEqual([
      ['ip-address', 'pro-plan', 'deprovisioned'],
      ['pro-plan', null, 'deprovisioned'],
    ]);
    expect(await stockOf(['pro-plan', 'ip-address'])).toEqual(before);
    expect(await customer.orders()).toEqual([]);
  });

  describe('external integrations', () => {
    it('retries a failed call with the same idempotency key and succeeds', async () => {
      const customer = await sys.customer();
      flaky.state.failNext = 1;
      const res = await customer.buy('flaky-analytics');
      expect(res.status).toBe(201);
      const calls = flaky.requests.filter((r) => r.body.purchaseId === res.body.id && r.body.event === 'provision');
      expect(calls.map((c) => c.status)).toEqual([500, 200]);
      const key = calls[0]!.headers['idempotency-key'];
      expect(key).toEqual(expect.any(String));
      expect(calls[1]!.headers['idempotency-key']).toBe(key);
      const [unit] = await unitsOf(customer, res.body.id);
      expect(unit).toMatchObject({
        status: 'active',
        integration: { status: 'established', externalRef: `ext-${unit.id}` },
      });
    });

    it('rolls back and refunds when the service keeps failing', async () => {
      const customer = await sys.customer();
      const before = await stockOf(['analytics']);
      fake.set('fail');
      const res = await customer.buy('analytics');
      expect(res.status).toBe(502);
      expect(res.body.code).toBe('purchase_failed');
      const id = res.body.purchaseId;
      expect((await customer.purchaseState(id)).payment).toMatchObject({ status: 'voided', amount: 2999 });
      expect(fromService(id, 'provision')).toHaveLength(sys.config.STEP_ATTEMPTS);
      expect(fromService(id, 'deprovision').length).toBeGreaterThan(0);
      expect((await unitsOf(customer, id)).filter((u) => u.status !== 'deprovisioned')).toEqual([]);
      expect(await stockOf(['analytics'])).toEqual(before);
      expect(await customer.orders()).toEqual([]);
    });

    it('times out a hanging service and fails cleanly within a bounded time', async () => {
      const customer = await sys.customer();
      fake.set('hang');
      const started = Date.now();
      const res = await customer.buy('analytics');
      const elapsed = Date.now() - started;
      expect(res.status).toBe(502);
      expect(res.body.code).toBe('purchase_failed');
      expect(elapsed).toBeLessThan(sys.config.SYNC_TIMEOUT_MS);
      const id = res.body.purchaseId;
      const calls = fromService(id, 'provision');
      expect(calls).toHaveLength(sys.config.STEP_ATTEMPTS);
      // Each attempt waited for the per-call timeout before the next one started.
      for (let i = 1; i < calls.length; i++)
        expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(sys.config.INTEGRATION_TIMEOUT_MS - 50);
      expect((await customer.purchaseState(id)).payment.status).toBe('voided');
      expect((await unitsOf(customer, id)).filter((u) => u.status !== 'deprovisioned')).toEqual([]);
    });

    it('accepts a slow answer that comes within the timeout', async () => {
      const customer = await sys.customer();
      fake.set({ slowMs: 200 });
      const res = await customer.buy('analytics');
      expect(res.status).toBe(201);
      expect(fromService(res.body.id, 'provision')).toHaveLength(1);
      const [unit] = await unitsOf(customer, res.body.id);
      expect(unit.integration).toEqual({ status: 'established', externalRef: `ext-${unit.id}` });
    });
  });
  describe('signed partner calls (contract §5.1)', () => {
    const withApp = { productId: 'signed-app', quantity: 2 };
    const solos = { productId: 'signed-solo', quantity: 3 };
    const callsOf = (purchaseId: string, event: string) =>
      signed.requests.filter((r) => r.body?.purchaseId === purchaseId && r.body?.event === event);
    /** The purchase's calls of `event` the partner has not answered yet, by product. */
    const inFlight = (purchaseId: string, event: string) =>
      callsOf(purchaseId, event)
        .filter((r) => r.status === undefined)
        .map((r) => r.body.productId)
        .sort();
    /** Waits until the purchase's calls of `event` at the partner, in flight together, are those of `products`. */
    const atOnce = (purchaseId: string, event: string, products: string[]) =>
      vi.waitFor(() => expect(inFlight(purchaseId, event)).toEqual(products), { timeout: 20 * SLOW_MS, interval: 20 });
    /** How long after its address's call each app's call reached the partner (`appFirst`: the other way round). */
    const appGaps = (calls: RecordedRequest[], appFirst = false) =>
      calls
        .filter((c) => c.body.productId === 'signed-app')
        .map((app) => {
          const ip = calls.find((c) => c.body.provisionedId === `${app.body.provisionedId}-signed-ip`)!;
          return appFirst ? ip.at - app.at : app.at - ip.at;
        });

    it('signs every provision and deprovision call over the bytes sent, so the partner can verify it', async () => {
      const customer = await sys.customer();
      await arm('order.place', 10);
      const res = await customer.purchase({ items: [{ productId: 'signed-app', quantity: 1 }, solos], payment: visa });
      expect(res.body.code).toBe('purchase_failed');
      const id = res.body.purchaseId;
      await customer.waitForSettled(id);
      const calls = [...callsOf(id, 'provision'), ...callsOf(id, 'deprovision')];
      expect(calls).toHaveLength(2 * 5);
      const partner = new Webhook(SECRET);
      for (const call of calls) {
        expect(partner.verify(call.raw, signatureOf(call))).toEqual(call.body);
        // The Idempotency-Key is the webhook-id: a partner that dedupes by either sees one call.
        expect(call.headers['webhook-id']).toBe(call.headers['idempotency-key']);
      }
      // Someone without the secret cannot pass for us.
      expect(() => new Webhook(newSecret()).verify(calls[0]!.raw, signatureOf(calls[0]!))).toThrow();
      // The secret stays in the process: Redis holds its name only.
      const secretBytes = SECRET.slice('whsec_'.length);
      const defs = await sys.stores.catalog.getDefs(['signed-app']);
      expect(defs.get('signed-app')!.integration).toMatchObject({ url: signed.url, secretEnv: SECRET_ENV });
      expect(JSON.stringify([...defs.values()])).not.toContain(secretBytes);
      expect(JSON.stringify(await sys.stores.purchases.get(id))).not.toContain(secretBytes);
    });

    it('provisions the units of a purchase side by side, each dependency before the product built on it', async () => {
      const customer = await sys.customer();
      signed.set({ slowMs: SLOW_MS });
      const accepted = await customer.purchase({ items: [withApp, solos], payment: visa }, { async: true });
      expect(accepted.status).toBe(202);
      const id = accepted.body.id;
      // Both addresses and the three units that stand alone are at the partner at once.
      await atOnce(id, 'provision', ['signed-ip', 'signed-ip', 'signed-solo', 'signed-solo', 'signed-solo']);
      // Slower than INTEGRATION_TIMEOUT_MS, within the partner's own timeoutMs: it completes.
      expect((await customer.waitForTerminal(id, 20 * SLOW_MS)).status).toBe('completed');
      const calls = callsOf(id, 'provision');
      expect(calls).toHaveLength(7);
      // Each app's call went out only once its address's call had been answered.
      const gaps = appGaps(calls);
      expect(gaps).toHaveLength(2);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(SLOW_MS - TIMER_SLACK_MS);
      const units = await unitsOf(customer, id);
      expect(units).toHaveLength(7);
      expect(units.every((u) => u.status === 'active' && u.integration?.status === 'established')).toBe(true);
    });

    it('deprovisions a product before the dependency it was built on, independent units side by side', async () => {
      const customer = await sys.customer();
      await arm('order.place', 10);
      signed.set({ slowMs: SLOW_MS });
      const accepted = await customer.purchase({ items: [withApp, solos], payment: visa }, { async: true });
      const id = accepted.body.id;
      // Both apps and the three units that stand alone go at once; the addresses wait for their apps.
      await atOnce(id, 'deprovision', ['signed-app', 'signed-app', 'signed-solo', 'signed-solo', 'signed-solo']);
      const state = await customer.waitForSettled(id, 20 * SLOW_MS);
      expect(state.steps.find((s: any) => s.name === 'provisioning').status).toBe('compensated');
      const calls = callsOf(id, 'deprovision');
      expect(calls).toHaveLength(7);
      // Each address went only once the app built on it was gone.
      const gaps = appGaps(calls, true);
      expect(gaps).toHaveLength(2);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(SLOW_MS - TIMER_SLACK_MS);
      expect((await unitsOf(customer, id)).map((u) => u.status)).toEqual(Array(7).fill('deprovisioned'));
    });

    it('never shows customers who provisions a product (contract §4, §5.1)', async () => {
      const customer = await sys.customer();
      const products = (await customer.get('/v1/products')).body;
      expect(products.map((p: any) => p.id)).toEqual(expect.arrayContaining(['analytics', 'signed-app']));
      for (const product of products) expect(product).not.toHaveProperty('integration');
      expect(await customer.product('signed-app')).not.toHaveProperty('integration');
      expect(JSON.stringify(products)).not.toContain(SECRET_ENV);
    });
  });

  describe('a partner secret the environment lacks stops start-up, naming it', () => {
    const MISSING = 'PROVISIONER_TEST_NO_SUCH_SECRET';
    const catalog = (secretEnv: string): Product[] => [
      ...testCatalog(),
      {
        id: 'secret-app',
        name: 'Signed app',
        price: { amount: 100, currency: 'USD' },
        stock: 1,
        dependencies: [],
        integration: { url: 'http://127.0.0.1:9/hooks', secretEnv },
      },
    ];

    it.each([
      ['every role', 'gateway,workers,auth'],
      ['the workers alone', 'workers'],
      ['the gateway alone', 'gateway'],
    ])('refuses an unset secretEnv in %s', async (_, roles) => {
      await expect(startTestSystem({ catalog: catalog(MISSING), env: { ROLES: roles } })).rejects.toThrow(
        new RegExp(`${MISSING} \\(secretEnv of secret-app\\) is not set`),
      );
    });

    it.each([
      ['without its whsec_ prefix', SECRET.slice('whsec_'.length)],
      ['too short to be a secret', 'whsec_c2hvcnQ='],
      ['not base64', `whsec_${'!'.repeat(40)}`],
    ])('refuses a secret %s', async (_, value) => {
      await expect(
        startTestSystem({ catalog: catalog('PROVISIONER_TEST_BAD'), env: { PROVISIONER_TEST_BAD: value } }),
      ).rejects.toThrow(/PROVISIONER_TEST_BAD \(secretEnv of secret-app\) is not whsec_/);
    });

    it('a process of its own exits non-zero with the variable named', async () => {
      const { code, output } = await runMain({
        ROLES: 'workers',
        CATALOG_FILE: writeCatalog(catalog(MISSING)),
        // Never reached: the catalog is checked before Redis.
        REDIS_URL: 'redis://127.0.0.1:9',
        LOG_LEVEL: 'silent',
      });
      expect(code).toBe(1);
      expect(output).toContain(`${MISSING} (secretEnv of secret-app) is not set`);
    });
  });
});
