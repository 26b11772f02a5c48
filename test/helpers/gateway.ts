import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { JWK } from 'jose';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect } from 'vitest';
import { BuiltinPaymentProvider } from '../../src/adapters/builtin-provider.js';
import type { ProviderPayment } from '../../src/adapters/payments.js';
import { scanKeys } from '../../src/redis.js';
import { QUEUES } from '../../src/queues/contract.js';
import { http as request, visa, type HttpResult } from './customer.js';
import type { Deployment } from './deployment.js';
import { startTestSystem, type TestSystem } from './system.js';

/** Shared by the gateway test files: requests, problem checks, probes of queues and keys. */
export const oneBasicPlan = () => ({ items: [{ productId: 'basic-plan', quantity: 1 }], payment: visa });

/**
 * POST /v1/purchases with whatever Authorization header a (possibly hostile) client sends, as raw
 * HTTP: not checked against the document (a Customer's requests are), so cheap under load.
 */
export function postPurchase(
  gatewayUrl: string,
  authorization: string | undefined,
  body: unknown = oneBasicPlan(),
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return request(`${gatewayUrl}/v1/purchases`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers },
    body: JSON.stringify(body),
  });
}

/** An RFC 9457 problem with the contract's status and code. */
export function expectProblem(res: HttpResult, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.title).toBe('string');
}

export function expectRetryAfter(res: HttpResult) {
  const value = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(value) && value > 0, `Retry-After: ${res.headers.get('retry-after')}`).toBe(true);
}

/** Purchase records under the system's prefix (any customer, every shard, every master). */
export async function purchaseRecords(s: Deployment): Promise<number> {
  return (await scanKeys(s.redis, s.stores.keys.patterns.purchase)).length;
}

export const JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const;

/** Jobs in any state in every queue of the contract, per queue; the workers' own scheduled jobs (watchdog) aside. */
export async function queuedJobs(s: Deployment): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of Object.values(QUEUES)) {
    counts[name] = 0;
    for (const shard of s.stores.keys.allShards) {
      const queue = new Queue(name, { connection: s.redis, prefix: s.stores.keys.queuePrefix(shard) });
      const jobs = await queue.getJobs([...JOB_STATES]);
      counts[name] += jobs.filter((job) => job && !job.repeatJobKey).length;
      await queue.close();
    }
  }
  return counts;
}
export const noJobs = Object.fromEntries(Object.values(QUEUES).map((q) => [q, 0]));

export async function readyz(s: Deployment): Promise<HttpResult> {
  return request(`${s.gatewayUrl}/readyz`);
}

export async function metricsText(s: Deployment): Promise<string> {
  return (await request<string>(`${s.gatewayUrl}/metrics`)).body;
}

export async function signingKey(authUrl: string): Promise<JWK> {
  const res = await request<{ keys: JWK[] }>(`${authUrl}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return res.body.keys[0]!;
}

/** Claims a real token of `s` would carry; `over` replaces iss/aud. */
export function claims(s: Deployment, sub: string, over: { iss?: string; aud?: string } = {}) {
  return new SignJWT({ roles: [] })
    .setIssuer(over.iss ?? s.config.AUTH_ISSUER)
    .setAudience(over.aud ?? s.config.AUTH_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('10m');
}

/** A JWKS endpoint of the test's own, so the test can sign tokens the gateway trusts. */
export async function serveJwks(keys: JWK[]) {
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

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

/**
 * The two systems most gateway files share, started before and stopped after the file:
 * a default one, and `limited` with a tiny purchase budget (3 per 60 s per customer).
 */
export function gatewaySystems(): { sys: TestSystem; limited: TestSystem } {
  const systems = {} as { sys: TestSystem; limited: TestSystem };
  beforeAll(async () => {
    [systems.sys, systems.limited] = await Promise.all([
      startTestSystem(),
      startTestSystem({ env: { RATE_LIMIT_POINTS: '3', RATE_LIMIT_DURATION_S: '60' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([systems.sys?.stop(), systems.limited?.stop()]);
  });
  return systems;
}

/** The built-in payment provider's payment for a purchase, as its ledger has it (undefined: none was ever made). */
export function providerPaymentOf(s: Deployment, purchaseId: string): Promise<ProviderPayment | undefined> {
  return new BuiltinPaymentProvider(s.redis, s.stores.keys).findByPurchase(purchaseId);
}
