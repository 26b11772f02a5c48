import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { freePort } from '../../harness/free-port.js';
import type { Product } from '../../src/catalog/catalog-file.js';
import { parseConfig, redisTargetOf } from '../../src/config.js';
import { keysFor } from '../../src/keys.js';
import { createLogger } from '../../src/logger.js';
import { createStores } from '../../src/stores/domain-stores.js';
import { Redis } from 'ioredis';
import { connectRedis, type RedisClient } from '../../src/redis.js';
import { startSystem, type RunningSystem } from '../../src/system.js';
import type { Tracing } from '../../src/telemetry.js';
import { clientsOf, TEST_ENV, type Deployment } from './deployment.js';
import type { TestBackend } from './global-redis.js';

/** A catalog with known stock for tests; integration products point at `integrationUrl`. */
export function testCatalog(integrationUrl = 'http://127.0.0.1:9/unused'): Product[] {
  return [
    { id: 'basic-plan', name: 'Basic plan', price: { amount: 999, currency: 'USD' }, stock: 100, dependencies: [] },
    {
      id: 'pro-plan',
      name: 'Pro plan',
      price: { amount: 1999, currency: 'USD' },
      stock: 50,
      customization: {
        type: 'object',
        required: ['domain'],
        properties: { domain: { type: 'string', pattern: '^[a-z0-9.-]+\\.[a-z]{2,}$' } },
      },
      quotaPerCustomer: 2,
      dependencies: ['ip-address'],
    },
    { id: 'ip-address', name: 'Dedicated IP', price: { amount: 300, currency: 'USD' }, stock: 100, dependencies: [] },
    {
      id: 'storage-addon',
      name: 'Extra storage',
      price: { amount: 499, currency: 'USD' },
      stock: 100,
      dependencies: [],
      customization: { type: 'object', properties: { sizeGb: { type: 'integer', enum: [50, 100, 500] } } },
    },
    {
      id: 'analytics',
      name: 'Analytics',
      price: { amount: 2999, currency: 'USD' },
      stock: 50,
      dependencies: [],
      integration: { url: integrationUrl },
    },
    { id: 'sold-out', name: 'Sold out theme', price: { amount: 4999, currency: 'USD' }, stock: 0, dependencies: [] },
    { id: 'gift-card', name: 'Gift card', price: { amount: 500, currency: 'USD' }, stock: 100, dependencies: [] },
  ];
}

export interface TestSystemOptions {
  env?: Record<string, string>;
  catalog?: Product[];
  rules?: unknown[];
  redisUrl?: string;
  /** Another Redis than the run's (a failover test's own Redis Cluster or sentinels). */
  backend?: TestBackend;
  tracing?: Tracing;
}

/** Every role in this process: the Deployment, plus the single server's URL. */
export interface TestSystem extends Deployment {
  /** The single server's URL; '' on the cluster or sentinel backend (config names those). */
  redisUrl: string;
}

/** Runs every role in-process against a real Redis, on a key prefix of its own. */
export async function startTestSystem(opts: TestSystemOptions = {}): Promise<TestSystem> {
  // The backend switch: the `cluster` project runs every system on a Redis Cluster (global-redis.ts).
  const backend: TestBackend =
    opts.backend ?? (opts.redisUrl ? { kind: 'single', url: opts.redisUrl } : inject('redisBackend'));
  const redisUrl = backend.kind === 'single' ? backend.url : '';
  const onCluster: Record<string, string> =
    backend.kind === 'cluster'
      ? { REDIS_CLUSTER_NODES: backend.seeds, REDIS_SHARDS: process.env.TEST_REDIS_SHARDS ?? '4' }
      : backend.kind === 'sentinel'
        ? { REDIS_SENTINELS: backend.sentinels, REDIS_SENTINEL_NAME: backend.name }
        : {};
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-test-'));
  const catalogFile = path.join(dir, 'catalog.json');
  writeFileSync(catalogFile, JSON.stringify({ products: opts.catalog ?? testCatalog() }));
  let rulesFile: string | undefined;
  if (opts.rules) {
    rulesFile = path.join(dir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(opts.rules));
  }
  const config = parseConfig({
    // A known port, not 0: the built-in provider's action links are built from it (PUBLIC_URL's default).
    PORT: String(await freePort()),
    AUTH_PORT: '0',
    KEY_PREFIX: `t${randomUUID().slice(0, 8)}`,
    CATALOG_FILE: catalogFile,
    ...(rulesFile ? { RULES_FILE: rulesFile } : {}),
    ...TEST_ENV,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    STEP_BACKOFF_MS: '20',
    COMPENSATION_ATTEMPTS: '5',
    RATE_LIMIT_POINTS: '1000',
    READ_RATE_LIMIT_POINTS: '10000',
    LOCK_DURATION_MS: '5000',
    STALLED_INTERVAL_MS: '2000',
    INTEGRATION_TIMEOUT_MS: '500',
    SYNC_TIMEOUT_MS: '10000',
    ...onCluster,
    ...opts.env,
  });
  const target = redisTargetOf(config, redisUrl);
  // As a process of its own would: partner secrets come from its environment (opts.env over the test's).
  const env = { ...process.env, ...opts.env };
  const system: RunningSystem = await startSystem(config, target, createLogger(config.LOG_LEVEL), opts.tracing, env);
  // As before on one server (an offline queue, one retry); a cluster connection rides out a failover.
  const redis: RedisClient =
    target.kind === 'single' ? new Redis(target.url, { maxRetriesPerRequest: 1 }) : connectRedis(target, 'worker');
  const gatewayUrl = system.gatewayUrl ?? '';
  const authUrl = system.authUrl ?? '';
  const stores = createStores(redis, keysFor(config));
  return {
    config,
    gatewayUrl,
    authUrl,
    redisUrl,
    redis,
    redisEnv: { KEY_PREFIX: config.KEY_PREFIX, ...(redisUrl ? { REDIS_URL: redisUrl } : {}), ...onCluster },
    stores,
    ...clientsOf(gatewayUrl, authUrl, stores, config),
    async stop() {
      await system.stop();
      redis.disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
