import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { generateKeyPair, exportJWK, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../src/queues/contract.js';
import { Customer, eventually, getToken, http as request, visa, type HttpResult } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { freePort } from './helpers/free-port.js';
import { startTestSystem, TEST_ADMIN, type TestSystem } from './helpers/system.js';
import { startTestRedis, type TestRedis } from './helpers/test-redis.js';

// ---------------------------------------------------------------- helpers

const oneBasicPlan = () => ({ items: [{ productId: 'basic-plan', quantity: 1 }], payment: visa });

/** POST /v1/purchases with whatever Authorization header a (possibly hostile) client sends. */
function postPurchase(gatewayUrl: string, authorization: string | undefined, body: unknown = oneBasicPlan()): Promise<HttpResult> {
  return request(`${gatewayUrl}/v1/purchases`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
}

/** An RFC 9457 problem with the contract's status and code. */
function expectProblem(res: HttpResult, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.title).toBe('string');
}

function expectRetryAfter(res: HttpResult) {
  const value = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(value) && value > 0, `Retry-After: ${res.headers.get('retry-after')}`).toBe(true);
}

/** Purchase records under the system's prefix (any customer). */
async function purchaseRecords(s: TestSystem): Promise<number> {
  return (await s.redis.keys(s.stores.keys.purchase('*'))).length;
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

/** Jobs in any state in every queue of the contract, per queue; the workers' own scheduled jobs (watchdog) aside. */
async function queuedJobs(s: TestSystem): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of Object.values(QUEUES)) {
    const queue = new Queue(name, { connection: s.redis, prefix: s.stores.keys.queuePrefix });
    const jobs = await queue.getJobs([...JOB_STATES]);
    counts[name] = jobs.filter((job) => job && !job.repeatJobKey).length;
    await queue.close();
  }
  return counts;
}
const noJobs = Object.fromEntries(Object.values(QUEUES).map((q) => [q, 0]));

async function readyz(s: TestSystem): Promise<HttpResult> {
  return request(`${s.gatewayUrl}/readyz`);
}

async function metricsText(s: TestSystem): Promise<string> {
  return (await request<string>(`${s.gatewayUrl}/metrics`)).body;
}

async function signingKey(authUrl: string): Promise<JWK> {
  const res = await request<{ keys: JWK[] }>(`${authUrl}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return res.body.keys[0]!;
}

/** Claims a real token of `s` would carry; `over` replaces iss/aud. */
function claims(s: TestSystem, sub: string, over: { iss?: string; aud?: string } = {}) {
  return new SignJWT({ roles: [] })
    .setIssuer(over.iss ?? s.config.AUTH_ISSUER)
    .setAudience(over.aud ?? s.config.AUTH_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('10m');
}

/** A JWKS endpoint of the test's own, so the test can sign tokens the gateway trusts. */
async function serveJwks(keys: JWK[]) {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

// ---------------------------------------------------------------- shared systems

let sys: TestSystem;
/** A system with a tiny purchase budget: 3 per 60 s per customer. */
let limited: TestSystem;

beforeAll(async () => {
  [sys, limited] = await Promise.all([
    startTestSystem(),
    startTestSystem({ env: { RATE_LIMIT_POINTS: '3', RATE_LIMIT_DURATION_S: '60' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([sys?.stop(), limited?.stop()]);
});

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
    expect(res.body).toMatchObject({ id: state.id, status: 'completed', items: [{ productId: 'basic-plan', quantity: 1, unitPrice: 999 }] });
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
    expect(JSON.parse(Buffer.from(expired.split('.')[0]!, 'base64url').toString()).kid).toBe((await signingKey(sys.authUrl)).kid);
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
      env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: `http://127.0.0.1:${closed}/.well-known/jwks.json`, AUTH_TIMEOUT_MS: '500' },
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
    expect(orders[0]).toMatchObject({ id: res.body.orderId, purchaseId: res.body.id, total: { amount: 2497, currency: 'USD' } });
    expect(orders[0].items).toEqual([
      { productId: 'basic-plan', quantity: 1, unitPrice: 999, customization: {} },
      { productId: 'storage-addon', quantity: 2, unitPrice: 499, customization: { sizeGb: 50 } },
      { productId: 'gift-card', quantity: 1, unitPrice: 500, customization: {} },
    ]);
    const provisioned = await customer.provisioned();
    const units = (id: string) => provisioned.filter((p) => p.productId === id && p.purchaseId === res.body.id && p.status === 'active');
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
    const gw = await startTestSystem({ env: { ROLES: 'gateway,auth', BREAKER_THRESHOLD: '3', BREAKER_HALF_OPEN_MS: '60000' } });
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

describe('gateway: authentication', () => {
  type Forge = (customerId: string) => Promise<string>;
  const forgeries: [string, Forge][] = [
    [
      'a token signed by another ES256 key under the real kid',
      async (sub) => {
        const { kid } = await signingKey(sys.authUrl);
        const { privateKey } = await generateKeyPair('ES256');
        return claims(sys, sub).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
      },
    ],
    [
      'an unsigned alg:none token',
      async (sub) =>
        new UnsecuredJWT({ roles: [] }).setIssuer(sys.config.AUTH_ISSUER).setAudience(sys.config.AUTH_AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('10m').encode(),
    ],
    [
      'an HS256 token keyed with the public key x coordinate',
      async (sub) => {
        const { kid, x } = await signingKey(sys.authUrl);
        return claims(sys, sub).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(x));
      },
    ],
    [
      'a token whose kid the Authentication Server never published',
      async (sub) => {
        const { privateKey } = await generateKeyPair('ES256');
        return claims(sys, sub).setProtectedHeader({ alg: 'ES256', kid: 'kid-nobody-published' }).sign(privateKey);
      },
    ],
    [
      'a genuine token whose payload was changed to another customer',
      async (sub) => {
        const [header, , signature] = (await getToken(sys.authUrl, 'someone-else')).split('.');
        const payload = Buffer.from(JSON.stringify({ sub, roles: ['admin'], iss: sys.config.AUTH_ISSUER, aud: sys.config.AUTH_AUDIENCE, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['a malformed token', async () => 'abc.def.ghi'],
    ['a token that is not a JWT at all', async () => 'not-a-jwt'],
  ];

  it.each(forgeries)('rejects %s with invalid_token and buys nothing', async (_name, forge) => {
    const sub = `cust-forged-${Math.random().toString(36).slice(2, 10)}`;
    const recordsBefore = await purchaseRecords(sys);
    const res = await postPurchase(sys.gatewayUrl, `Bearer ${await forge(sub)}`);
    expectProblem(res, 401, 'invalid_token');
    expect(await purchaseRecords(sys)).toBe(recordsBefore);
    expect(await sys.stores.orders.listByCustomer(sub)).toEqual([]);
  });

  it('rejects a non-Bearer Authorization header with invalid_token, and reads without a token with missing_token', async () => {
    expectProblem(await postPurchase(sys.gatewayUrl, `Basic ${Buffer.from('cust:pw').toString('base64')}`), 401, 'invalid_token');
    for (const path of ['/v1/orders', '/v1/purchases/pur_x', '/v1/provisioned', '/v1/notifications', '/v1/products']) {
      expectProblem(await request(`${sys.gatewayUrl}${path}`), 401, 'missing_token');
    }
  });

  it('checks issuer and audience: a correctly signed token for another issuer or audience is invalid_token', async () => {
    // The gateway trusts a JWKS the test controls, so the test can sign tokens with a trusted key.
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'test-trusted', alg: 'ES256', use: 'sig' };
    const jwks = await serveJwks([jwk]);
    const gw = await startTestSystem({ env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: jwks.url } });
    try {
      const sub = `cust-trusted-${Date.now()}`;
      const sign = (over: { iss?: string; aud?: string } = {}) => claims(gw, sub, over).setProtectedHeader({ alg: 'ES256', kid: 'test-trusted' }).sign(privateKey);
      // Control: the right issuer and audience under the trusted key buys.
      expect((await postPurchase(gw.gatewayUrl, `Bearer ${await sign()}`)).status).toBe(201);
      expectProblem(await postPurchase(gw.gatewayUrl, `Bearer ${await sign({ iss: 'https://evil.example' })}`), 401, 'invalid_token');
      expectProblem(await postPurchase(gw.gatewayUrl, `Bearer ${await sign({ aud: 'another-api' })}`), 401, 'invalid_token');
      const noSub = await new SignJWT({}).setIssuer(gw.config.AUTH_ISSUER).setAudience(gw.config.AUTH_AUDIENCE).setIssuedAt().setExpirationTime('10m').setProtectedHeader({ alg: 'ES256', kid: 'test-trusted' }).sign(privateKey);
      expectProblem(await postPurchase(gw.gatewayUrl, `Bearer ${noSub}`), 401, 'invalid_token');
      expect(await gw.stores.orders.listByCustomer(sub)).toHaveLength(1);
    } finally {
      await gw.stop();
      await jwks.stop();
    }
  });

  it('picks up a rotated Authentication Server key without a gateway restart', async () => {
    const port = await freePort();
    const jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    let auth = await startTestSystem({ env: { ROLES: 'auth', AUTH_PORT: String(port) } });
    const gw = await startTestSystem({ env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: jwksUrl, AUTH_JWKS_COOLDOWN_MS: '0' } });
    try {
      const sub = `cust-rotation-${Date.now()}`;
      const before = await Customer.login(gw.gatewayUrl, auth.authUrl, sub);
      const oldKid = (await signingKey(auth.authUrl)).kid;
      expect((await before.buy('basic-plan')).status).toBe(201);

      await auth.stop();
      // While the Authentication Server is down, cached keys keep verifying tokens.
      expect((await before.buy('basic-plan')).status).toBe(201);

      auth = await startTestSystem({ env: { ROLES: 'auth', AUTH_PORT: String(port) } });
      const newKid = (await signingKey(auth.authUrl)).kid;
      expect(newKid).not.toBe(oldKid);
      const after = await Customer.login(gw.gatewayUrl, auth.authUrl, sub);
      const res = await after.buy('basic-plan');
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(await after.orders()).toHaveLength(3);
      // The old key is no longer published, so tokens signed with it stop working.
      expectProblem(await before.get('/v1/orders'), 401, 'invalid_token');
    } finally {
      await gw.stop();
      await auth.stop();
    }
  });

  it('answers service_unavailable in bounded time when the Authentication Server hangs or answers 5xx', async () => {
    const authServer = await startFakeService('hang');
    const gw = await startTestSystem({ env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: authServer.url, AUTH_TIMEOUT_MS: '500' } });
    try {
      const sub = `cust-hang-${Date.now()}`;
      const token = await getToken(sys.authUrl, sub);
      const [hung, ms] = await timed(() => postPurchase(gw.gatewayUrl, `Bearer ${token}`));
      expectProblem(hung, 503, 'service_unavailable');
      expectRetryAfter(hung);
      expect(ms).toBeLessThan(5_000);
      expect(authServer.requests.length).toBeGreaterThan(0); // it did ask the Authentication Server

      // A failing Authentication Server is unavailable too: the customer's token is not "invalid".
      for (const status of [500, 503]) {
        authServer.set({ status });
        const asked = authServer.requests.length;
        const failing = await postPurchase(gw.gatewayUrl, `Bearer ${token}`);
        expect(authServer.requests.length).toBeGreaterThan(asked);
        expectProblem(failing, 503, 'service_unavailable');
        expectRetryAfter(failing);
      }
      expect(await purchaseRecords(gw)).toBe(0);
      expect(await gw.stores.orders.listByCustomer(sub)).toEqual([]);
    } finally {
      await gw.stop();
      await authServer.stop();
    }
  });
});

describe('gateway: Redis unreachable', () => {
  let redis: TestRedis;
  let rsys: TestSystem;
  beforeAll(async () => {
    redis = await startTestRedis();
    rsys = await startTestSystem({ redisUrl: redis.url, env: { BREAKER_THRESHOLD: '3', BREAKER_HALF_OPEN_MS: '1000' } });
    rsys.redis.on('error', () => {});
  });
  afterAll(async () => {
    await rsys?.stop();
    await redis?.stop();
  });

  it('answers 503 fast, opens the breaker after the threshold, and closes it once Redis is back', async () => {
    const customer = await rsys.customer();
    // Warm: keys cached, breaker closed, the path works.
    expect((await customer.buy('basic-plan')).status).toBe(201);
    await redis.kill();

    for (let i = 0; i < 3; i++) {
      const [res, ms] = await timed(() => customer.buy('basic-plan'));
      expectProblem(res, 503, 'service_unavailable'); // never a 500
      expectRetryAfter(res);
      expect(ms).toBeLessThan(5_000); // well under SYNC_TIMEOUT_MS (10 s)
      expect(res.body.detail).not.toMatch(/circuit/i);
    }
    // Threshold reached: the breaker is open and rejects at once.
    const [open, openMs] = await timed(() => customer.buy('basic-plan'));
    expectProblem(open, 503, 'service_unavailable');
    expect(open.body.detail).toMatch(/circuit/i);
    expectRetryAfter(open);
    expect(openMs).toBeLessThan(1_000);
    const ready = await readyz(rsys);
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toMatchObject({ redis: false, breaker: 'open' });
    expect(await metricsText(rsys)).toMatch(/^orchestrator_breaker_state 1$/m);

    await redis.restart();
    await eventually('Redis and the workers to be back', async () => {
      const { checks } = (await readyz(rsys)).body;
      return checks.redis === true && checks.workers === true;
    }, 15_000);
    // Past half-open, a probe goes through and closes the breaker.
    const ok = await eventually('a purchase to succeed after Redis is back', async () => {
      const res = await customer.buy('basic-plan');
      if (res.status === 201) return res;
      expectProblem(res, 503, 'service_unavailable');
      return undefined;
    }, 15_000);
    expect(ok.body.status).toBe('completed');
    expect(await metricsText(rsys)).toMatch(/^orchestrator_breaker_state 0$/m);
    expect((await readyz(rsys)).body.checks.breaker).toBe('closed');
    expect(await customer.orders()).toHaveLength(2);
  });

  it('answers customer reads with service_unavailable (not 500) while Redis is down', async () => {
    const customer = await rsys.customer();
    const bought = await customer.buy('basic-plan');
    expect(bought.status).toBe(201);
    await redis.kill();
    try {
      for (const path of ['/v1/orders', `/v1/purchases/${bought.body.id}`, '/v1/products', '/v1/provisioned', '/v1/notifications', `/v1/purchases/${bought.body.id}/events`]) {
        const [res, ms] = await timed(() => customer.get(path));
        expectProblem(res, 503, 'service_unavailable');
        expectRetryAfter(res);
        expect(ms).toBeLessThan(5_000);
      }
    } finally {
      await redis.restart();
    }
    const back = await eventually('reads to work again', async () => {
      const res = await customer.get('/v1/orders');
      return res.status === 200 ? res : undefined;
    }, 15_000);
    expect(back.body.map((o: { purchaseId: string }) => o.purchaseId)).toContain(bought.body.id);
  });
});

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
    expect(await sys.redis.exists(sys.stores.keys.providerCharge(`${first.body.id}-charge`))).toBe(1);
  });

  it('answers ten concurrent duplicates with one purchase, one order and stock taken once', async () => {
    const customer = await sys.customer();
    const before = await sys.stores.catalog.stock('gift-card');
    const recordsBefore = await purchaseRecords(sys);
    const body = { items: [{ productId: 'gift-card', quantity: 3 }], payment: visa };
    const answers = await Promise.all(Array.from({ length: 10 }, () => customer.purchase(body, { idempotencyKey: 'burst-1' })));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(await purchaseRecords(sys)).toBe(recordsBefore + 1);
    expect(await customer.orders()).toHaveLength(1);
    expect((await customer.orders())[0].items).toEqual([{ productId: 'gift-card', quantity: 3, unitPrice: 500, customization: {} }]);
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

describe('gateway: input validation', () => {
  const item = (over: Record<string, unknown>) => ({ items: [{ productId: 'basic-plan', quantity: 1, ...over }], payment: visa });
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
    ['51 items', { items: Array.from({ length: 51 }, () => ({ productId: 'basic-plan', quantity: 1 })), payment: visa }],
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

  it('refuses a malformed Idempotency-Key', async () => {
    const customer = await sys.customer();
    expectProblem(await customer.buy('basic-plan', 1, undefined, { idempotencyKey: 'k'.repeat(256) }), 400, 'validation_error');
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
    if (schema.$ref) schema = schema.$ref.split('/').slice(1).reduce((node: any, part: string) => node[part], doc);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['items', 'payment']));
    expect(schema.properties.items.items.additionalProperties).toBe(false);
  });

  it('guards the admin routes with Basic auth and turns them off without a password', async () => {
    const anonymous = await request(`${sys.gatewayUrl}/admin/queues`);
    expect(anonymous.status).toBe(401);
    const wrong = await request(`${sys.gatewayUrl}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from(`${TEST_ADMIN.user}:nope`).toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const board = await sys.admin('GET', '/admin/queues');
    expect(board.status).toBe(200);
    expect(board.headers.get('content-type')).toContain('text/html');
    expect(await board.text()).toMatch(/<html/i);

    const closed = await startTestSystem({ env: { ROLES: 'gateway', ADMIN_PASSWORD: '' } });
    try {
      expect((await closed.admin('GET', '/admin/queues')).status).toBe(404);
      expect((await request(`${closed.gatewayUrl}/admin/queues`)).status).toBe(404);
    } finally {
      await closed.stop();
    }
  });
});
