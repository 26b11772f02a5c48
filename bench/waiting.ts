/**
 * Purchases waiting for the outside world, in npm run bench (also alone: `npx tsx bench/waiting.ts`):
 * BENCH_WAITING purchases (default 1,000) paid with tok_3ds wait for their customer's action on one
 * deployment with the default worker concurrency and WAIT_CHECK_MS (each checks by itself every
 * 30 s), while BENCH_N clients do full sync purchases. Measured: the ordinary purchases' throughput
 * and p99 before, while and after they wait (before and after average out the drift of a run on
 * shared cores), Redis memory per waiting purchase (used_memory's growth while they were parked,
 * over their count: record, idempotency key, parked job, action link, notification), and how long
 * canceling them all takes (each cancel wakes its parked job, which voids and ends it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createKeys } from '../src/keys.js';
import { startRedisServer } from '../src/local-redis.js';
import { freePort } from '../harness/free-port.js';
import { inParallel } from '../harness/in-parallel.js';
import { benchCatalog, deployment } from './cluster.js';
import { closedLoop, type LoopRun } from './loops.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const WAITING = Number(process.env.BENCH_WAITING ?? 1000);
const PREFIX = 'bwait';

const p99 = (run: LoopRun) => {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.99)] ?? 0;
};
const summary = (label: string, run: LoopRun) => ({
  label,
  perSecond: run.latencies.length / run.seconds,
  p99: p99(run),
  errors: run.errors,
});

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

export async function waitingPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-waiting-'));
  const server = await startRedisServer({
    dir: path.join(dir, 'redis'),
    port: await freePort(),
    appendfsync: 'everysec',
  });
  const redis = new Redis(server.url);
  const d = await deployment('waiting', { REDIS_URL: server.url, KEY_PREFIX: PREFIX }, benchCatalog(dir));
  const buy = (token: string) => ({ items: [{ productId: 'bench-plan', quantity: 1 }], payment: { token } });
  try {
    await closedLoop(N, WARMUP_S, d.op);
    const before = await closedLoop(N, SECONDS, d.op);

    const memoryBefore = await usedMemory(redis);
    const parkStarted = performance.now();
    const parked = await inParallel(WAITING, N, async (i) => {
      const res = await d.post(i % N, '/v1/purchases', buy('tok_3ds'), { 'idempotency-key': `wait-${i}` });
      const body = JSON.parse(res.body) as { id?: string; status?: string };
      return res.status === 202 && body.status === 'requires_action' ? body.id! : undefined;
    });
    const parkSeconds = (performance.now() - parkStarted) / 1000;
    const waitingIds = parked.filter((id): id is string => id !== undefined);
    const memoryPerWaiting = (await usedMemory(redis)) - memoryBefore;

    const during = await closedLoop(N, SECONDS, d.op);

    const cancelStarted = performance.now();
    const canceled = await inParallel(waitingIds.length, N, async (i) => {
      const res = await d.post(i % N, `/v1/purchases/${waitingIds[i]}/cancel`, {});
      return res.status < 300;
    });
    // Ended once none is left open (the watchdog's index of purchases not yet terminal).
    while ((await redis.zcard(createKeys(PREFIX).purchasesOpen(0))) > 0) await new Promise((r) => setTimeout(r, 100));
    const cancelSeconds = (performance.now() - cancelStarted) / 1000;

    const after = await closedLoop(N, SECONDS, d.op);

    const results = [
      summary('nothing waiting, before', before),
      summary(`${waitingIds.length} waiting`, during),
      summary('nothing waiting, after', after),
    ];
    const alone = (results[0]!.perSecond + results[2]!.perSecond) / 2;
    console.log(`waiting for the customer: N=${N}, ${SECONDS}s each, one redis-server, default concurrency`);
    for (const r of results)
      console.log(`  ${r.label}: ${r.perSecond.toFixed(0)}/s, p99 ${r.p99.toFixed(0)} ms, errors ${r.errors}`);
    console.log(
      `  while ${waitingIds.length} wait: ${(results[1]!.perSecond / alone).toFixed(2)} × the throughput with none`,
    );
    console.log(
      `  parked ${waitingIds.length} of ${WAITING} in ${parkSeconds.toFixed(1)} s; Redis ${(memoryPerWaiting / waitingIds.length / 1024).toFixed(1)} KiB per waiting purchase`,
    );
    console.log(
      `  canceled ${canceled.filter(Boolean).length} waiting purchases, all ended in ${cancelSeconds.toFixed(1)} s`,
    );
    return {
      runs: results,
      waiting: waitingIds.length,
      parkErrors: WAITING - waitingIds.length,
      bytesPerWaiting: memoryPerWaiting / waitingIds.length,
      cancelErrors: canceled.filter((ok) => !ok).length,
      cancelSeconds,
      errors:
        results.reduce((n, r) => n + r.errors, 0) + (WAITING - waitingIds.length) + canceled.filter((ok) => !ok).length,
    };
  } finally {
    await d.close();
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await waitingPhase();
  process.exit();
}
