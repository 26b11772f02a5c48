import { generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { getToken, visa } from './helpers/customer.js';
import { freePort } from '../harness/free-port.js';
import {
  claims,
  expectProblem,
  expectRetryAfter,
  gatewaySystems,
  metricsText,
  noJobs,
  postPurchase,
  purchaseRecords,
  queuedJobs,
  readyz,
  signingKey,
  timed,
} from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

const shared = gatewaySystems();
let sys: TestSystem;
let limited: TestSystem;
beforeAll(() => ({ sys, limited } = shared));

// ---------------------------------------------------------------- seed scenarios

describe('Feature: Purchase Gateway', () => {
  it('Successful purchase with valid JWT', async () => {
    const customer = await sys.customer();
    const before = await sys.stores.catalog.stock('basic-plan');
    const res = await customer.buy('basic-plan');
    // Then the Purchase Gateway should validate the JWT with the Authentication Server
    expect(res.status).not.toBe(401);
    const forged = await postPurchase(sys.gatewayUrl, `Bearer ${customer.token.slice(0, -4)}AAAA`);
    expectProblem(forged, 401, 'invalid_token');
    // And the Purchase Gateway should send a product request to the Purchase Orchestrator
    const state = await customer.purchaseState(res.body.id);
    expect(state.steps.map((s: { status: string }) => s.status)).toEqual(Array(7).fill('completed'));
    expect(state.payment).toEqual({ status: 'captured', amount: 999, currency: 'USD' });
    // And the customer should receive a success response
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: state.id,
      status: 'completed',
      items: [{ productId: 'basic-plan', quantity: 1, unitPrice: 999 }],
    });
    expect(res.headers.get('location')).toBe(`/v1/purchases/${res.body.id}`);
    expect((await sys.stores.catalog.stock('basic-plan')).available).toBe(before.available - 1);
    expect(await customer.orders()).toHaveLength(1);
  });

  it('Purchase attempt with invalid JWT', async () => {
    const customer = await sys.customer();
    const real = await signingKey(sys.authUrl);
    // Same kid as the Authentication Server's key, signed with another key.
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await claims(sys, customer.id).setProtectedHeader({ alg: 'ES256', kid: real.kid }).sign(privateKey);
    const recordsBefore = await purchaseRecords(sys);
    const stockBefore = await sys.stores.catalog.stock('basic-plan');

    const res = await postPurchase(sys.gatewayUrl, `Bearer ${forged}`);
    // Then the Purchase Gateway should validate the JWT with the Authentication Server
    // (the same customer's token signed by the Authentication Server's key is accepted)
    const genuine = await customer.buy('basic-plan');
    expect(genuine.status).toBe(201);
    // And the JWT validation should fail
    expect(res.status).toBe(401);
    expect(await purchaseRecords(sys)).toBe(recordsBefore + 1); // only the genuine one
    expect((await sys.stores.catalog.stock('basic-plan')).available).toBe(stockBefore.available - 1);
    expect(await customer.orders()).toHaveLength(1);
    // And the customer should receive an "invalid_token" error response
    expectProblem(res, 401, 'invalid_token');
  });

  it('Purchase attempt with expired JWT', async () => {
    const customer = await sys.customer();
    const expired = await getToken(sys.authUrl, customer.id, { ttlSeconds: -120 });
    const recordsBefore = await purchaseRecords(sys);
    const res = await postPurchase(sys.gatewayUrl, `Bearer ${expired}`);
    // Then the Purchase Gateway should validate the JWT with the Authentication Server
    // (the expired token carries the Authentication Server's signature; it is rejected for its age alone)
    expect(JSON.parse(Buffer.from(expired.split('.')[0]!, 'base64url').toString()).kid).toBe(
      (await signingKey(sys.authUrl)).kid,
    );
    expect((await customer.buy('basic-plan')).status).toBe(201);
    // And the JWT validation should fail
    expect(res.status).toBe(401);
    expect(await purchaseRecords(sys)).toBe(recordsBefore + 1);
    // And the customer should receive an "expired_token" error response
    expectProblem(res, 401, 'expired_token');
  });

  it('Purchase attempt without JWT', async () => {
    const recordsBefore = await purchaseRecords(sys);
    const stockBefore = await sys.stores.catalog.stock('basic-plan');
    const res = await postPurchase(sys.gatewayUrl, undefined);
    // Then the Purchase Gateway should reject the request
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await purchaseRecords(sys)).toBe(recordsBefore);
    expect(await sys.stores.catalog.stock('basic-plan')).toEqual(stockBefore);
    // And the customer should receive a "missing_token" error response
    expectProblem(res, 401, 'missing_token');
  });

  it('Purchase Orchestrator unavailable', async () => {
    // Gateway and auth only: no workers process, so no orchestrator, on a prefix of its own.
    const orch = await startTestSystem({ env: { ROLES: 'gateway,auth' } });
    try {
      const customer = await orch.customer();
      const stockBefore = await orch.stores.catalog.stock('basic-plan');
      const [res, ms] = await timed(() => customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'orch-down-1' }));
      // Then the Purchase Gateway should validate the JWT with the Authentication Server
      expect(res.status).not.toBe(401);
      expectProblem(await postPurchase(orch.gatewayUrl, 'Bearer abc.def.ghi'), 401, 'invalid_token');
      // And the Purchase Gateway should attempt to send a product request to the Purchase Orchestrator
      expect(res.body.detail).toMatch(/orchestrator/i);
      // And the Purchase Gateway should handle the Purchase Orchestrator unavailability gracefully
      // (at once, not after the sync timeout; nothing charged, recorded, reserved or left queued)
      expect(ms).toBeLessThan(5_000);
      expectRetryAfter(res);
      expect(JSON.stringify(res.body)).not.toMatch(/\bat \S+:\d+|Error:/);
      expect(await purchaseRecords(orch)).toBe(0);
      expect(await orch.stores.purchases.openIds()).toEqual([]);
      expect(await customer.orders()).toEqual([]);
      expect(await orch.stores.catalog.stock('basic-plan')).toEqual(stockBefore);
      expect(await queuedJobs(orch)).toEqual(noJobs);
      expect(await orch.redis.exists(orch.stores.keys.idempotency(customer.id, 'orch-down-1'))).toBe(0);
      // And the customer should receive a "service_unavailable" error response
      expectProblem(res, 503, 'service_unavailable');
    } finally {
      await orch.stop();
    }
  });

  it('Authentication Server unavailable', async () => {
    // The gateway's JWKS URL points at a port nobody listens on; its key cache is cold.
    const closed = await freePort();
    const gw = await startTestSystem({
      env: {
        ROLES: 'gateway,workers',
        AUTH_JWKS_URL: `http://127.0.0.1:${closed}/.well-known/jwks.json`,
        AUTH_TIMEOUT_MS: '500',
      },
    });
    try {
      const sub = `cust-${Date.now()}`;
      // A JWT issued by an Authentication Server with the same issuer/audience the gateway expects.
      const token = await getToken(sys.authUrl, sub);
      const stockBefore = await gw.stores.catalog.stock('basic-plan');
      const [res, ms] = await timed(() => postPurchase(gw.gatewayUrl, `Bearer ${token}`));
      // Then the Purchase Gateway should attempt to validate the JWT with the Authentication Server
      const ready = await readyz(gw);
      expect(ready.status).toBe(503);
      expect(ready.body.checks.auth).toBe(false);
      // And the Purchase Gateway should handle the Authentication Server unavailability gracefully
      // (answers within a bounded time, not a 401 that would send the customer to log in again,
      // and buys nothing)
      expect(ms).toBeLessThan(5_000);
      expectRetryAfter(res);
      expect(await purchaseRecords(gw)).toBe(0);
      expect(await gw.stores.orders.listByCustomer(sub)).toEqual([]);
      expect(await gw.stores.catalog.stock('basic-plan')).toEqual(stockBefore);
      // And the customer should receive a "service_unavailable" error response
      expectProblem(res, 503, 'service_unavailable');
    } finally {
      await gw.stop();
    }
  });

  it('Invalid product request', async () => {
    const customer = await sys.customer();
    const res = await customer.buy('no-such-product');
    // Then the Purchase Gateway should validate the JWT with the Authentication Server
    expect(res.status).not.toBe(401);
    // And the Purchase Gateway should send a product request to the Purchase Orchestrator
    expect(typeof res.body.purchaseId).toBe('string');
    const state = await customer.purchaseState(res.body.purchaseId);
    expect(state.items).toEqual([{ productId: 'no-such-product', quantity: 1, customization: {} }]);
    // And the Purchase Orchestrator should reject the invalid product request
    expect(state.status).toBe('failed');
    expect(state.steps.find((s: { name: string }) => s.name === 'validation').status).toBe('failed');
    expect(state.error).toMatchObject({ code: 'invalid_product', step: 'validation' });
    expect(state.payment.status).toBe('none');
    expect(state.orderId).toBeUndefined();
    expect(await customer.orders()).toEqual([]);
    expect(await customer.provisioned()).toEqual([]);
    // And the customer should receive an "invalid_product" error response
    expectProblem(res, 422, 'invalid_product');
    expect(res.body.detail).toContain('no-such-product');
  });

  it('Successful purchase with multiple products', async () => {
    const customer = await sys.customer();
    const ids = ['basic-plan', 'storage-addon', 'gift-card'];
    const before = await Promise.all(ids.map((id) => sys.stores.catalog.stock(id)));
    const res = await customer.purchase({
      items: [
        { productId: 'basic-plan', quantity: 1 },
        { productId: 'storage-addon', quantity: 2, customization: { sizeGb: 50 } },
        { productId: 'gift-card', quantity: 1 },
      ],
      payment: visa,
    });
    // Then the Purchase Gateway should validate the JWT with the Authentication Server
    expect(res.status).not.toBe(401);
    // And the Purchase Gateway should send a product request to the Purchase Orchestrator
    const state = await customer.purchaseState(res.body.id);
    expect(state.steps.every((s: { status: string }) => s.status === 'completed')).toBe(true);
    // And the Purchase Orchestrator should process the purchase for all selected products
    expect(state.payment).toEqual({ status: 'captured', amount: 999 + 2 * 499 + 500, currency: 'USD' });
    const orders = await customer.orders();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      id: res.body.orderId,
      purchaseId: res.body.id,
      total: { amount: 2497, currency: 'USD' },
    });
    expect(orders[0].items).toEqual([
      { productId: 'basic-plan', quantity: 1, unitPrice: 999, customization: {} },
      { productId: 'storage-addon', quantity: 2, unitPrice: 499, customization: { sizeGb: 50 } },
      { productId: 'gift-card', quantity: 1, unitPrice: 500, customization: {} },
    ]);
    const provisioned = await customer.provisioned();
    const units = (id: string) =>
      provisioned.filter((p) => p.productId === id && p.purchaseId === res.body.id && p.status === 'active');
    expect([units('basic-plan').length, units('storage-addon').length, units('gift-card').length]).toEqual([1, 2, 1]);
    expect(units('storage-addon')[0].customization).toEqual({ sizeGb: 50 });
    const after = await Promise.all(ids.map((id) => sys.stores.catalog.stock(id)));
    expect(after.map((s, i) => before[i]!.available - s.available)).toEqual([1, 2, 1]);
    // And the customer should receive a success response
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.items.map((i: { productId: string }) => i.productId)).toEqual(ids);
  });

  it('Purchase Gateway rate limiting', async () => {
    const customer = await limited.customer();
    const stockBefore = await limited.stores.catalog.stock('basic-plan');
    // Given the customer has exceeded the rate limit (3 purchases per 60 s here)
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const ok = await customer.buy('basic-plan');
      expect(ok.status).toBe(201);
      remaining.push(ok.headers.get('ratelimit-remaining'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const res = await customer.buy('basic-plan');
    // Then the Purchase Gateway should reject the request
    expect(res.status).toBe(429);
    expect(await customer.orders()).toHaveLength(3);
    expect((await limited.stores.catalog.stock('basic-plan')).available).toBe(stockBefore.available - 3);
    // And the customer should receive a "rate_limit_exceeded" error response
    expectProblem(res, 429, 'rate_limit_exceeded');
    expectRetryAfter(res);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(res.headers.get('ratelimit-limit')).toBe('3');
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
  });

  it('Purchase Gateway circuit breaker', async () => {
    // No workers at first: every hand-off fails. Half-open only after a minute, so the breaker stays open here.
    const gw = await startTestSystem({
      env: { ROLES: 'gateway,auth', BREAKER_THRESHOLD: '3', BREAKER_HALF_OPEN_MS: '60000' },
    });
    let workers: TestSystem | undefined;
    try {
      const customer = await gw.customer();
      // Given the Purchase Orchestrator is experiencing high failure rates
      for (let i = 0; i < 3; i++) {
        const failed = await customer.buy('basic-plan');
        expectProblem(failed, 503, 'service_unavailable');
        expect(failed.body.detail).not.toMatch(/circuit/i);
      }
      // And the circuit breaker is open
      expect((await readyz(gw)).body.checks.breaker).toBe('open');
      expect(await metricsText(gw)).toMatch(/^orchestrator_breaker_state 1$/m);
      // The orchestrator is back by now; an open breaker still does not send it anything.
      workers = await startTestSystem({ env: { ROLES: 'workers', KEY_PREFIX: gw.config.KEY_PREFIX } });
      await eventually('the gateway to see a live worker', async () => (await readyz(gw)).body.checks.workers === true);
      const stockBefore = await gw.stores.catalog.stock('basic-plan');

      const [res, ms] = await timed(() => customer.buy('basic-plan'));
      // Then the Purchase Gateway should validate the JWT with the Authentication Server
      expect(res.status).not.toBe(401);
      const expired = await getToken(gw.authUrl, customer.id, { ttlSeconds: -120 });
      expectProblem(await postPurchase(gw.gatewayUrl, `Bearer ${expired}`), 401, 'expired_token');
      // And the Purchase Gateway should immediately reject the request due to the open circuit breaker
      expect(res.body.detail).toMatch(/circuit/i);
      expect(ms).toBeLessThan(2_000);
      expectRetryAfter(res);
      expect(await purchaseRecords(gw)).toBe(0);
      expect(await queuedJobs(gw)).toEqual(noJobs);
      expect(await gw.stores.catalog.stock('basic-plan')).toEqual(stockBefore);
      expect((await readyz(gw)).body.checks.breaker).toBe('open');
      // And the customer should receive a "service_unavailable" error response
      expectProblem(res, 503, 'service_unavailable');
    } finally {
      await workers?.stop();
      await gw.stop();
    }
  });
});

// ---------------------------------------------------------------- hardening
