import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeys } from '../src/keys.js';
import { getToken, http } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { freePort } from '../harness/free-port.js';
import { startRole, writeCatalog } from './helpers/processes.js';
import { startTestSystem, testCatalog } from './helpers/system.js';
import { startTestRedis, type TestRedis } from '../harness/redis-server.js';

/** Runs src/main.ts to its exit; resolves with exit code and everything it printed. */
function runMain(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('process lifecycle', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => redis?.stop());

  it('refuses to start on a Redis that may evict keys, saying why', async () => {
    const other = await startTestRedis();
    const admin = new Redis(other.url);
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const { code, output } = await runMain({
        REDIS_URL: other.url,
        PORT: String(await freePort()),
        AUTH_PORT: String(await freePort()),
      });
      expect(code).not.toBe(0);
      expect(output).toMatch(/maxmemory-policy is "allkeys-lru"; it must be "noeviction"/);
    } finally {
      admin.disconnect();
      await other.stop();
    }
  });

  it('fails fast on a bad configuration value, naming the variable', async () => {
    const { code, output } = await runMain({ REDIS_URL: redis.url, SYNC_TIMEOUT_MS: 'soon' });
    expect(code).toBe(1);
    expect(output).toMatch(/SYNC_TIMEOUT_MS/);
    expect(output).not.toMatch(/at .*\.ts:\d+/); // one clear message, no stack trace
  });

  it('SIGTERM lets an in-flight purchase finish, then exits 0', async () => {
    const [port, authPort] = [await freePort(), await freePort()];
    const catalogFile = writeCatalog(testCatalog());
    const env = {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'life',
      PORT: String(port),
      AUTH_PORT: String(authPort),
      CATALOG_FILE: catalogFile,
    };
    const proc = await startRole('gateway,workers,auth', env);
    const token = await getToken(`http://127.0.0.1:${authPort}`, 'life-1');
    const inFlight = http(`http://127.0.0.1:${port}/v1/purchases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ productId: 'basic-plan', quantity: 1 }], payment: { token: 'tok_visa' } }),
    });
    // Signal once the purchase is accepted and running.
    const probe = new Redis(redis.url);
    await vi.waitFor(async () => expect(await probe.zcard(createKeys('life').purchasesOpen(0))).toBeGreaterThan(0), {
      timeout: 10_000,
      interval: 5,
    });
    const started = Date.now();
    const exited = proc.stop();
    const res = await inFlight;
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(proc.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    probe.disconnect();
  });

  it('SIGTERM still exits within the shutdown deadline when Redis is down', async () => {
    const own = await startTestRedis();
    const env = {
      REDIS_URL: own.url,
      KEY_PREFIX: 'life2',
      PORT: String(await freePort()),
      AUTH_PORT: String(await freePort()),
      CATALOG_FILE: writeCatalog(testCatalog()),
      SHUTDOWN_TIMEOUT_MS: '3000',
    };
    const proc = await startRole('gateway,workers,auth', env);
    await own.kill();
    const started = Date.now();
    await proc.stop();
    expect(Date.now() - started).toBeLessThan(6_000);
    await own.stop();
  });

  it('an in-process stop ends within its budget when Redis is gone, forcing what still waits on it', async () => {
    const own = await startTestRedis();
    const sys = await startTestSystem({ redisUrl: own.url, env: { SHUTDOWN_TIMEOUT_MS: '2000' } });
    try {
      await own.kill();
      const stopped = sys.stop().then(() => 'stopped');
      expect(await Promise.race([stopped, new Promise((r) => setTimeout(() => r('still stopping'), 8_000))])).toBe(
        'stopped',
      );
    } finally {
      await own.stop();
    }
  });

  it('stopping ends open event streams instead of waiting for them', async () => {
    const hanging = await startFakeService('hang');
    const sys = await startTestSystem({ catalog: testCatalog(hanging.url), env: { INTEGRATION_TIMEOUT_MS: '3000' } });
    try {
      const customer = await sys.customer();
      const res = await customer.purchase(
        { items: [{ productId: 'analytics', quantity: 1 }], payment: { token: 'tok_visa' } },
        { async: true },
      );
      expect(res.status).toBe(202);
      const stream = await fetch(`${sys.gatewayUrl}/v1/purchases/${res.body.id}/events`, {
        headers: { authorization: `Bearer ${customer.token}` },
      });
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      expect((await reader.read()).done).toBe(false); // the current state arrived; the purchase hangs in provisioning
      const started = Date.now();
      const ended = (async () => {
        for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return Date.now();
      })();
      const stopped = sys.stop().then(() => Date.now());
      // The stream ends at once; stopping then waits only for the worker's active job (its calls time out after 3 s).
      expect((await ended) - started).toBeLessThan(1_500);
      expect((await stopped) - started).toBeLessThan(10_000);
    } finally {
      await hanging.stop();
    }
  });

  it('a workers-only process serves its metrics, with its own memory and event loop, on METRICS_PORT', async () => {
    const metricsPort = await freePort();
    const env = {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'life3',
      CATALOG_FILE: writeCatalog(testCatalog()),
      METRICS_PORT: String(metricsPort),
    };
    const proc = await startRole('workers', env);
    try {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toMatch(/^queue_jobs\{queue="orchestrator",state="waiting"\} \d+$/m);
      expect(text).toContain('saga_step_duration_seconds');
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  });

  it("a workers process's metrics show when it last wrote its heartbeat, and that time stops moving while Redis is gone", async () => {
    const own = await startTestRedis();
    const metricsPort = await freePort();
    const env = {
      REDIS_URL: own.url,
      KEY_PREFIX: 'life4',
      CATALOG_FILE: writeCatalog(testCatalog()),
      METRICS_PORT: String(metricsPort),
      SHUTDOWN_TIMEOUT_MS: '3000',
    };
    const proc = await startRole('workers', env);
    const lastBeat = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(/^workers_heartbeat_last_success_timestamp_seconds\{shard="0"\} (\S+)$/m.exec(text)?.[1]);
    };
    try {
      // Written at start and every 2 s after.
      expect(Date.now() / 1000 - (await lastBeat())).toBeLessThan(10);
      await own.kill();
      // A beat answered just before the kill may still be recorded a moment after it: give that a second.
      await new Promise((r) => setTimeout(r, 1_000));
      const atKill = Date.now() / 1000;
      await new Promise((r) => setTimeout(r, 5_000));
      // No beat can have been written since the kill: an alert on its age sees this process stop beating.
      expect(await lastBeat()).toBeLessThanOrEqual(atKill);
    } finally {
      await proc.stop();
      await own.stop();
    }
  });

  it('an in-process system also serves its workers metrics on the gateway', async () => {
    const sys = await startTestSystem();
    try {
      const text = await (await fetch(`${sys.gatewayUrl}/metrics`)).text();
      expect(text).toMatch(/queue_jobs\{queue="payment",state="waiting"\}/);
      // The process's own metrics once, from the gateway's registry: a repeated name would break the scrape.
      expect(text.match(/^# TYPE process_resident_memory_bytes /gm)).toHaveLength(1);
    } finally {
      await sys.stop();
    }
  });
});
