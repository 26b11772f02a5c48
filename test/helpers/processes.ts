import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../../harness/free-port.js';
import { startTestRedis, type TestRedis } from '../../harness/redis-server.js';
import type { Product } from '../../src/catalog/catalog-file.js';
import { parseConfig } from '../../src/config.js';
import { keysFor } from '../../src/keys.js';
import { createStores } from '../../src/stores/domain-stores.js';
import { clientsOf, TEST_ENV, type Deployment } from './deployment.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A role running as its own `node src/main.ts` process, so a test can kill -9 it. */
export interface RoleProcess {
  child: ChildProcess;
  /** Log lines (pino JSON) the process printed. */
  logs: string[];
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function writeCatalog(products: Product[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-proc-'));
  const file = path.join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify({ products }));
  return file;
}

/** Starts `src/main.ts` with ROLES and env; resolves once it logged that it is up. */
export async function startRole(roles: string, env: Record<string, string>, timeoutMs = 20_000): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env, ROLES: roles },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    logs.push(...lines);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wanted = roles
    .split(',')
    .map(
      (r) =>
        ({ gateway: 'gateway listening', workers: 'workers started', auth: 'auth server listening' })[
          r.trim() as 'gateway'
        ],
    );
  const deadline = Date.now() + timeoutMs;
  while (!wanted.every((w) => logs.some((l) => l.includes(w)))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${roles} did not start:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    logs,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * A Deployment of separate processes on a redis-server of its own: one gateway+auth process and
 * any number of workers processes, each killable (kill -9), as the chaos tests need.
 */
export interface ProcessDeployment extends Deployment {
  redis: Redis;
  /** The redis-server itself: kill it, restart it from its AOF. */
  redisServer: TestRedis;
  /** The environment every process was started with. */
  env: Record<string, string>;
  gateway: RoleProcess;
  workers: RoleProcess[];
  addWorkers(): Promise<RoleProcess>;
  /** kill -9 of the gateway process, then a new one on the same port. */
  restartGateway(): Promise<RoleProcess>;
}

export async function startProcesses(opts: {
  catalog: Product[];
  env?: Record<string, string>;
  workers?: number;
}): Promise<ProcessDeployment> {
  const redisServer = await startTestRedis({ appendfsync: 'always' });
  const [port, authPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    REDIS_URL: redisServer.url,
    KEY_PREFIX: 'chaos',
    PORT: String(port),
    AUTH_PORT: String(authPort),
    CATALOG_FILE: writeCatalog(opts.catalog),
    ...TEST_ENV,
    RATE_LIMIT_POINTS: '1000000',
    READ_RATE_LIMIT_POINTS: '1000000',
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
  const config = parseConfig(env);
  const gateway = await startRole('gateway,auth', env);
  const workers: RoleProcess[] = [];
  for (let i = 0; i < (opts.workers ?? 2); i++) workers.push(await startRole('workers', env));
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  redis.on('error', () => {});
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const authUrl = `http://127.0.0.1:${authPort}`;
  const stores = createStores(redis, keysFor(config));
  const deployment: ProcessDeployment = {
    config,
    gatewayUrl,
    authUrl,
    redis,
    stores,
    redisEnv: { KEY_PREFIX: config.KEY_PREFIX, REDIS_URL: redisServer.url },
    ...clientsOf(gatewayUrl, authUrl, stores, config),
    redisServer,
    env,
    gateway,
    workers,
    async restartGateway() {
      await deployment.gateway.kill9();
      deployment.gateway = await startRole('gateway,auth', env);
      return deployment.gateway;
    },
    async addWorkers() {
      const w = await startRole('workers', env);
      workers.push(w);
      return w;
    },
    async stop() {
      await Promise.all([deployment.gateway, ...workers].map((p) => p.kill9().catch(() => {})));
      redis.disconnect();
      await redisServer.stop();
    },
  };
  return deployment;
}
