import { randomUUID } from 'node:crypto';
import { eventually } from '../../harness/eventually.js';
import { runAudit, type AuditReport } from '../../src/audit.js';
import { createPaymentProvider } from '../../src/adapters/payment-provider.js';
import type { Config } from '../../src/config.js';
import type { RedisClient } from '../../src/redis.js';
import type { Stores } from '../../src/stores/domain-stores.js';
import { Customer, http, type HttpResult } from './customer.js';

/**
 * What a test drives, however the roles run: all in this process (`startTestSystem`,
 * helpers/system.ts) or as processes of their own on a redis-server of their own
 * (`startProcesses`, helpers/processes.ts). A test talks to it as a client and an operator do.
 */
export interface Deployment {
  config: Config;
  gatewayUrl: string;
  authUrl: string;
  /** A connection of the test's own to the deployment's Redis, for what an operator could check. */
  redis: RedisClient;
  /** Direct store access for assertions an operator could make (stock levels, records). */
  stores: Stores;
  /** The environment a process of its own (`npm run audit`) needs to reach this deployment's Redis and keys. */
  redisEnv: Record<string, string>;
  /** A customer logged in at the auth role (a fresh one unless `sub` is given). */
  customer(sub?: string, roles?: string[]): Promise<Customer>;
  /** A request to the gateway as the operator (TEST_ADMIN's Basic credentials). */
  admin(method: string, path: string, body?: unknown): Promise<HttpResult>;
  /** Waits until no purchase is open, then audits. */
  settle(timeoutMs?: number): Promise<AuditReport>;
  stop(): Promise<void>;
}

/** The operator's credentials every test deployment is started with. */
export const TEST_ADMIN = { user: 'admin', password: 'admin-pw' };

/** An `Authorization: Basic` value; TEST_ADMIN's unless told otherwise. */
export const basicAuth = (user = TEST_ADMIN.user, password = TEST_ADMIN.password) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * What every test deployment runs with, whichever way it runs: the operator's credentials,
 * faults an operator can arm, three attempts a step, and partner circuits and places out of the way:
 * a file's scenarios share one partner, and a circuit one scenario's outage opened would fail the next
 * one's purchases (test/partner-isolation.test.ts sets its own). Each kind adds its own timings on top.
 */
export const TEST_ENV: Record<string, string> = {
  ADMIN_USER: TEST_ADMIN.user,
  ADMIN_PASSWORD: TEST_ADMIN.password,
  FAULT_INJECTION: '1',
  STEP_ATTEMPTS: '3',
  PARTNER_BREAKER_FAILURES: '1000000',
  PARTNER_CONCURRENCY: '1000',
};

/** The part of a Deployment that is only a client of it: customers, the operator, the audit. */
export function clientsOf(
  gatewayUrl: string,
  authUrl: string,
  stores: Stores,
  config: Config,
): Pick<Deployment, 'customer' | 'admin' | 'settle'> {
  return {
    customer: (sub = `cust-${randomUUID().slice(0, 8)}`, roles = []) => Customer.login(gatewayUrl, authUrl, sub, roles),
    admin: (method, path, body) =>
      http(`${gatewayUrl}${path}`, {
        method,
        headers: {
          authorization: basicAuth(),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async settle(timeoutMs = 60_000) {
      let open: string[] = [];
      await eventually(
        'no purchase open',
        async () => {
          open = await stores.purchases.openIds(Date.now(), 10).catch(() => ['(redis unreachable)']);
          return open.length === 0;
        },
        { timeout: timeoutMs, interval: 200 },
      ).catch(async (err: Error) => {
        throw new Error(`purchases still open after ${timeoutMs} ms:\n${await openStates(stores, open)}`, {
          cause: err,
        });
      });
      // Against the provider the deployment pays with: its ledger is the other side of the books.
      return runAudit(stores, createPaymentProvider(config, stores.redis, stores.keys));
    },
  };
}

/** What keeps each of `ids` open, for a failure message: its phase, status, steps, undos and wait. */
async function openStates(stores: Stores, ids: string[]): Promise<string> {
  const records = await Promise.all(ids.map((id) => stores.purchases.get(id).catch(() => undefined)));
  return records
    .map((r, i) =>
      r
        ? `${ids[i]} ${JSON.stringify({ phase: r.phase, status: r.status, steps: r.steps, undos: r.undos, waiting: r.waiting, review: r.review, error: r.error })}`
        : `${ids[i]} (no record)`,
    )
    .join('\n');
}
