import { Redis } from 'ioredis';
import { vi } from 'vitest';
import { runAudit, type AuditReport } from '../../src/audit.js';
import type { Product } from '../../src/catalog/catalog-file.js';
import { createKeys } from '../../src/keys.js';
import { createStores, type Stores } from '../../src/stores/domain-stores.js';
import { getToken, http } from './customer.js';
import { freePort } from './free-port.js';
import { startRole, writeCatalog, type RoleProcess } from './processes.js';
import { startTestRedis, type TestRedis } from './test-redis.js';

export const ADMIN = { user: 'admin', password: 'chaos-pw' };

/**
 * A deployment of separate processes on a redis-server of its own: one
 * gateway+auth process and any number of workers processes, each killable.
 */
export interface Cluster {
  redis: TestRedis;
  env: Record<string, string>;
  gateway: RoleProcess;
  workers: RoleProcess[];
  gatewayUrl: string;
  authUrl: string;
  client: Redis;
  stores: Stores;
  addWorkers(): Promise<RoleProcess>;
  token(sub: string): Promise<string>;
  post(token: string, body: unknown, headers?: Record<string, string>): ReturnType<typeof http>;
  admin(method: string, path: string, body?: unknown): ReturnType<typeof http>;
  /** Waits until no purchase is open, then audits. */
  settle(timeoutMs?: number): Promise<AuditReport>;
  stop(): Promise<void>;
}

export async function startCluster(opts: {
  catalog: Product[];
  env?: Record<string, string>;
  workers?: number;
}): Promise<Cluster> {
  const redis = await startTestRedis({ appendfsync: 'always' });
  const [port, authPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    KEY_PREFIX: 'chaos',
    PORT: String(port),
    AUTH_PORT: String(authPort),
    CATALOG_FILE: writeCatalog(opts.catalog),
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    FAULT_INJECTION: '1',
    RATE_LIMIT_POINTS: '1000000',
    READ_RATE_LIMIT_POINTS: '1000000',
    STEP_ATTEMPTS: '3',
    STEP_BACKOFF_MS: '50',
    COMPENSATION_ATTEMPTS: '6',
    // Short stall detection so a killed worker's jobs come back within ~2 s.
    LOCK_DURATION_MS: '1500',
    STALLED_INTERVAL_MS: '1000',
    MAX_STALLED_COUNT: '1',
    WATCHDOG_INTERVAL_MS: '1000',
    PURCHASE_DEADLINE_MS: '10000',
    WORKER_CONCURRENCY: '8',
    SYNC_TIMEOUT_MS: '15000',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...opts.env,
  };
  const gateway = await startRole('gateway,auth', env);
  const workers: RoleProcess[] = [];
  for (let i = 0; i < (opts.workers ?? 2); i++) workers.push(await startRole('workers', env));
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  client.on('error', () => {});
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const authUrl = `http://127.0.0.1:${authPort}`;
  const stores = createStores(client, createKeys(env.KEY_PREFIX!));
  const basic = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
  return {
    redis,
    env,
    gateway,
    workers,
    gatewayUrl,
    authUrl,
    client,
    stores,
    async addWorkers() {
      const w = await startRole('workers', env);
      workers.push(w);
      return w;
    },
    token: (sub) => getToken(authUrl, sub),
    post: (token, body, headers = {}) =>
      http(`${gatewayUrl}/v1/purchases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    admin: (method, path, body) =>
      http(`${gatewayUrl}${path}`, {
        method,
        headers: { authorization: basic, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async settle(timeoutMs = 60_000) {
      await vi.waitFor(
        async () => {
          const open = await stores.purchases.openIds(Date.now(), 10).catch(() => ['(redis unreachable)']);
          if (open.length > 0) throw new Error(`purchases still open after ${timeoutMs} ms: ${open.join(', ')}`);
        },
        { timeout: timeoutMs, interval: 200 },
      );
      return runAudit(stores);
    },
    async stop() {
      await Promise.all([gateway, ...workers].map((p) => p.kill9().catch(() => {})));
      client.disconnect();
      await redis.stop();
    },
  };
}

/** Runs `total` operations with `concurrency` loops; `op` gets a global index. */
export async function load<T>(total: number, concurrency: number, op: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        results[i] = await op(i);
      }
    }),
  );
  return results;
}
