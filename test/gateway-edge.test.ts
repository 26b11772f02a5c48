import { beforeAll, describe, expect, it } from 'vitest';
import { BuiltinPaymentProvider } from '../src/adapters/builtin-provider.js';
import { eventually } from '../harness/eventually.js';
import { http as request, visa } from './helpers/customer.js';
import {
  expectProblem,
  gatewaySystems,
  metricsText,
  oneBasicPlan,
  purchaseRecords,
  readyz,
} from './helpers/gateway.js';
import { START_STAGE } from '../src/saga/saga.js';
import { basicAuth, TEST_ADMIN } from './helpers/deployment.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

const shared = gatewaySystems();
let sys: TestSystem;
let limited: TestSystem;
beforeAll(() => ({ sys, limited } = shared));

describe('gateway: rate limiting', () => {
  it('limits each customer separately, and status polling does not eat the purchase budget', async () => {
    const greedy = await limited.customer();
    for (let i = 0; i < 3; i++) expect((await greedy.buy('gift-card')).status).toBe(201);
    expectProblem(await greedy.buy('gift-card'), 429, 'rate_limit_exceeded');

    // Another customer is unaffected.
    const other = await limited.customer();
    const first = await other.buy('gift-card');
    expect(first.status).toBe(201);
    expect(first.headers.get('ratelimit-remaining')).toBe('2');

    // Twenty status polls later the budget is where it was.
    for (let i = 0; i < 20; i++) expect((await other.get(`/v1/purchases/${first.body.id}`)).status).toBe(200);
    const second = await other.buy('gift-card');
    expect(second.status).toBe(201);
    expect(second.headers.get('ratelimit-remaining')).toBe('1');

    expect(await metricsText(limited)).toMatch(/^rate_limit_rejections_total\{limit="purchases"\} [1-9]/m);
  });

  it('a cancel spends the same budget as a purchase: the one past it is refused and changes nothing', async () => {
    const customer = await limited.customer();
    const bought = await customer.buy('gift-card');
    expect(bought.status).toBe(201);
    const order = bought.body.orderId as string;
    expect((await customer.cancelOrder(order)).status).toBe(200);
    expect((await customer.cancelOrder(order)).status).toBe(200); // the budget of 3 is spent
    expectProblem(await customer.cancelOrder(order), 429, 'rate_limit_exceeded');
    expectProblem(await customer.cancel(bought.body.id), 429, 'rate_limit_exceeded');
    expectProblem(await customer.buy('gift-card'), 429, 'rate_limit_exceeded');
    // Reads have their own budget: the order is canceled once, and the purchase refunded.
    expect((await customer.get(`/v1/orders/${order}`)).body.status).toBe('canceled');
    expect((await customer.purchaseState(bought.body.id)).payment.status).toBe('refunded');
  });
});

describe('gateway: Idempotency-Key', () => {
  it('replays the same key and body: one purchase, one order, one charge', async () => {
    const customer = await sys.customer();
    const first = await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'order-42' });
    const again = await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'order-42' });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await customer.orders()).toHaveLength(1);
    const record = await sys.stores.purchases.get(first.body.id);
    expect(record!.payment).toMatchObject({ status: 'captured', amount: 999 });
    const payments = [];
    for await (const p of new BuiltinPaymentProvider(sys.redis, sys.stores.keys).list())
      if (p.purchaseId === first.body.id) payments.push(p);
    expect(payments).toMatchObject([{ state: 'captured', captured: 999 }]);
  });

  it('answers ten concurrent duplicates with one purchase, one order and stock taken once', async () => {
    const customer = await sys.customer();
    const before = await sys.stores.catalog.stock('gift-card');
    const recordsBefore = await purchaseRecords(sys);
    const body = { items: [{ productId: 'gift-card', quantity: 3 }], payment: visa };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => customer.purchase(body, { idempotencyKey: 'burst-1' })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(await purchaseRecords(sys)).toBe(recordsBefore + 1);
    expect(await customer.orders()).toHaveLength(1);
    expect((await customer.orders())[0].items).toEqual([
      { productId: 'gift-card', quantity: 3, unitPrice: 500, customization: {} },
    ]);
    const after = await sys.stores.catalog.stock('gift-card');
    expect(before.available - after.available).toBe(3);
    expect(after.sold - before.sold).toBe(3);
  });

  it('rejects the same key with another body, and scopes keys per customer', async () => {
    const alice = await sys.customer();
    const bob = await sys.customer();
    const first = await alice.buy('basic-plan', 1, undefined, { idempotencyKey: 'shared-key' });
    expect(first.status).toBe(201);
    const changed = await alice.buy('basic-plan', 2, undefined, { idempotencyKey: 'shared-key' });
    expectProblem(changed, 422, 'idempotency_key_reused');
    expect(await alice.orders()).toHaveLength(1);

    const bobs = await bob.buy('basic-plan', 1, undefined, { idempotencyKey: 'shared-key' });
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(first.body.id);
    expect(bobs.headers.get('idempotent-replayed')).toBeNull();
    expect(await bob.orders()).toHaveLength(1);
    expect(await alice.orders()).toHaveLength(1);
  });
});

describe('gateway: a hand-off that fails half-way', () => {
  it('takes back what it wrote: 503, no purchase, no acknowledgement, and the Idempotency-Key is free again', async () => {
    const customer = await sys.customer();
    const recordsBefore = await purchaseRecords(sys);
    // The purchase is written, then adding its job fails: BullMQ cannot count jobs on a counter that is not a number.
    const counter = `${sys.stores.keys.queuePrefix(sys.stores.keys.shardOfCustomer(customer.id))}:${START_STAGE.queue}:id`;
    const saved = await sys.redis.get(counter);
    await sys.redis.set(counter, 'not-a-number');
    let failed;
    try {
      failed = await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'half-way', async: true });
    } finally {
      if (saved === null) await sys.redis.del(counter);
      else await sys.redis.set(counter, saved);
    }
    expectProblem(failed, 503, 'service_unavailable');
    expect(await purchaseRecords(sys)).toBe(recordsBefore);
    expect(await customer.notifications()).toEqual([]);

    // The same key again is a new purchase, not a replay of the one taken back.
    const retried = await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'half-way', async: true });
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect((await customer.notifications()).map((n) => [n.type, n.purchaseId])).toEqual([
      ['purchase_accepted', retried.body.id],
    ]);
    expect((await customer.waitForTerminal(retried.body.id)).status).toBe('completed');
  });
});

describe('gateway: input validation', () => {
  const item = (over: Record<string, unknown>) => ({
    items: [{ productId: 'basic-plan', quantity: 1, ...over }],
    payment: visa,
  });
  const bad: [string, unknown][] = [
    ['malformed JSON', '{"items": [{"productId": "basic-plan",'],
    ['an empty body', ''],
    ['a JSON null body', 'null'],
    ['a JSON array body', []],
    ['an unknown top-level field', { ...oneBasicPlan(), coupon: 'FREE100' }],
    ['an unknown item field', item({ unitPrice: 0 })],
    ['quantity 0', item({ quantity: 0 })],
    ['quantity -1', item({ quantity: -1 })],
    ['quantity 1.5', item({ quantity: 1.5 })],
    ['quantity "2"', item({ quantity: '2' })],
    ['quantity 101', item({ quantity: 101 })],
    ['no items', { items: [], payment: visa }],
    [
      '51 items',
      { items: Array.from({ length: 51 }, () => ({ productId: 'basic-plan', quantity: 1 })), payment: visa },
    ],
    ['no payment', { items: [{ productId: 'basic-plan', quantity: 1 }] }],
    ['items that are not an array', { items: 'basic-plan', payment: visa }],
    ['a numeric productId', item({ productId: 42 })],
    ['a numeric payment token', { items: [{ productId: 'basic-plan', quantity: 1 }], payment: { token: 4242 } }],
    ['an unknown outOfStock policy', { ...oneBasicPlan(), outOfStock: 'ignore' }],
    ['a customization that is not an object', item({ customization: 'large' })],
  ];

  it.each(bad)('answers %s with validation_error', async (_name, body) => {
    const customer = await sys.customer();
    const res = await customer.purchase(body);
    expectProblem(res, 400, 'validation_error');
    expect(typeof res.body.detail).toBe('string');
  });

  it('refuses a body over 64 KiB with 413', async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(item({ customization: { note: 'x'.repeat(70 * 1024) } }));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.status).toBe(413);
  });

  it('measures a chunked body (no Content-Length) as it arrives: over 64 KiB is 413, under it is a purchase', async () => {
    const customer = await sys.customer();
    const chunked = (body: unknown) => {
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 8 * 1024) controller.enqueue(bytes.subarray(i, i + 8 * 1024));
          controller.close();
        },
      });
      return request(`${sys.gatewayUrl}/v1/purchases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${customer.token}`, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
    };
    const big = await chunked(item({ customization: { note: 'x'.repeat(70 * 1024) } }));
    expectProblem(big, 413, 'payload_too_large');
    const small = await chunked(item({}));
    expect([small.status, small.body.status]).toEqual([201, 'completed']);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const customer = await sys.customer();
    expectProblem(
      await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'k'.repeat(256) }),
      400,
      'validation_error',
    );
  });

  it('does not let a customer act for another one through the body', async () => {
    const attacker = await sys.customer();
    const victim = await sys.customer();
    const recordsBefore = await purchaseRecords(sys);
    const stockBefore = await sys.stores.catalog.stock('basic-plan');
    for (const field of ['customerId', 'sub']) {
      expectProblem(await attacker.purchase({ ...oneBasicPlan(), [field]: victim.id }), 400, 'validation_error');
    }
    expect(await purchaseRecords(sys)).toBe(recordsBefore);
    expect(await sys.stores.catalog.stock('basic-plan')).toEqual(stockBefore);
    expect(await victim.orders()).toEqual([]);
    expect(await attacker.orders()).toEqual([]);
  });
});

describe('gateway: owner-only reads', () => {
  it("answers another customer's purchase, order and event stream with not_found", async () => {
    const alice = await sys.customer();
    const bob = await sys.customer();
    const bought = await alice.buy('basic-plan');
    expect(bought.status).toBe(201);
    const { id, orderId } = bought.body;

    // Control: the owner sees all three.
    expect((await alice.get(`/v1/purchases/${id}`)).status).toBe(200);
    expect((await alice.get(`/v1/orders/${orderId}`)).status).toBe(200);
    const own = await alice.get<string>(`/v1/purchases/${id}/events`);
    expect(own.status).toBe(200);
    expect(own.headers.get('content-type')).toContain('text/event-stream');
    expect(own.body).toContain(`"id":"${id}"`);
    expect(own.body).toContain('"status":"completed"');

    expectProblem(await bob.get(`/v1/purchases/${id}`), 404, 'not_found');
    expectProblem(await bob.get(`/v1/orders/${orderId}`), 404, 'not_found');
    expectProblem(await bob.get(`/v1/purchases/${id}/events`), 404, 'not_found');
    expect(await bob.orders()).toEqual([]);
  });
});

describe('gateway: operations', () => {
  it('serves /healthz, /readyz and /metrics', async () => {
    const health = await request(`${sys.gatewayUrl}/healthz`);
    expect(health.status).toBe(200);
    const ready = await eventually('/readyz to be ready', async () => {
      const res = await readyz(sys);
      return res.status === 200 ? res : undefined;
    });
    expect(ready.body.checks).toEqual({ redis: true, auth: true, workers: true, breaker: 'closed' });
    const metrics = await metricsText(sys);
    expect(metrics).toMatch(/^http_requests_total\{/m);
    expect(metrics).toContain('rate_limit_rejections_total');
    expect(metrics).toMatch(/^orchestrator_breaker_state 0$/m);
  });

  it('publishes an OpenAPI 3.1 document whose purchase schema rejects unknown fields', async () => {
    const res = await request(`${sys.gatewayUrl}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\.1\./);
    let schema = doc.paths['/v1/purchases'].post.requestBody.content['application/json'].schema;
    if (schema.$ref)
      schema = schema.$ref
        .split('/')
        .slice(1)
        .reduce((node: any, part: string) => node[part], doc);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['items', 'payment']));
    expect(schema.properties.items.items.additionalProperties).toBe(false);
  });

  it('guards the admin routes with Basic auth and turns them off without a password', async () => {
    const anonymous = await request(`${sys.gatewayUrl}/admin/queues`);
    expect(anonymous.status).toBe(401);
    const wrong = await request(`${sys.gatewayUrl}/admin/queues`, {
      headers: { authorization: basicAuth(TEST_ADMIN.user, 'nope') },
    });
    expect(wrong.status).toBe(401);
    const board = await sys.admin('GET', '/admin/queues');
    expect(board.status).toBe(200);
    expect(board.headers.get('content-type')).toContain('text/html');
    expect(board.body).toMatch(/<html/i);

    const closed = await startTestSystem({ env: { ROLES: 'gateway', ADMIN_PASSWORD: '' } });
    try {
      expect((await closed.admin('GET', '/admin/queues')).status).toBe(404);
      expect((await request(`${closed.gatewayUrl}/admin/queues`)).status).toBe(404);
    } finally {
      await closed.stop();
    }
  });
});
