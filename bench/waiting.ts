/**
 * Purchases waiting for the outside world, in npm run bench (also alone: `npx tsx bench/waiting.ts
 * [customer|partner]`): BENCH_WAITING purchases (default 1,000) wait on one deployment with the
 * default worker concurrency and WAIT_CHECK_MS (each checks by itself every 30 s), either for their
 * customer's 3-D Secure (tok_3ds) or for a partner that answered 202 and calls back later (the
 * example partner, examples/partner.ts), while BENCH_N clients do full sync purchases. Measured: the
 * ordinary purchases' throughput and p99 before, while and after they wait (before and after average
 * out the drift of a run on shared cores), Redis memory per waiting purchase (used_memory's growth
 * while they were parked, over their count: everything a purchase keeps), and how long canceling them
 * all takes (each cancel wakes its parked job, which undoes and ends it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createKeys } from '../src/keys.js';
import { inParallel } from '../harness/in-parallel.js';
import { examplePartner } from '../examples/partner.js';
import { createStores } from '../src/stores/domain-stores.js';
import { benchCatalog, deployment } from './cluster.js';
import { closedLoop, type LoopRun } from './loops.js';
import { benchRedis } from './processes.js';

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

/** What the parked purchases wait for: their customer's 3-D Secure, or a partner that answered 202 and calls back later. */
type WaitKind = 'customer' | 'partner';

export async function waitingPhase(kind: WaitKind = 'customer') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-waiting-'));
  const server = await benchRedis(dir);
  const redis = new Redis(server.url);
  // The partner works on each unit for longer than the phase: its purchases wait until canceled.
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const partner = examplePartner(secret, { workMs: 3_600_000 });
  await new Promise<void>((r) => partner.listen(0, '127.0.0.1', r));
  const partnerUrl = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/provision`;
  const catalogFile = benchCatalog(dir, [
    {
      id: 'bench-partner',
      name: 'Bench partner plan',
      price: { amount: 1000, currency: 'USD' },
      stock: 1_000_000_000,
      integration: { url: partnerUrl, secretEnv: 'BENCH_PARTNER_SECRET', callbackTimeoutS: 3600 },
    },
  ]);
  const d = await deployment(
    `waiting-${kind}`,
    { REDIS_URL: server.url, KEY_PREFIX: PREFIX, BENCH_PARTNER_SECRET: secret },
    catalogFile,
  );
  const stores = createStores(redis, createKeys(PREFIX));
  const park = async (i: number): Promise<string | undefined> => {
    const body =
      kind === 'customer'
        ? { items: [{ productId: 'bench-plan', quantity: 1 }], payment: { token: 'tok_3ds' } }
        : { items: [{ productId: 'bench-partner', quantity: 1 }], payment: { token: 'tok_visa' } };
    const res = await d.post(i % N, '/v1/purchases', body, {
      'idempotency-key': `wait-${i}`,
      ...(kind === 'partner' ? { prefer: 'respond-async' } : {}),
    });
    const answer = JSON.parse(res.body) as { id?: string; status?: string };
    if (res.status !== 202) return undefined;
    if (kind === 'customer') return answer.status === 'requires_action' ? answer.id : undefined;
    // Accepted: it waits once its provisioning step does.
    for (;;) {
      const record = await stores.purchases.get(answer.id!);
      if (record?.steps.provisioning === 'waiting') return answer.id;
      if (record?.phase !== 'running') return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await closedLoop(N, WARMUP_S, d.op);
    const before = await closedLoop(N, SECONDS, d.op);

    const memoryBefore = await usedMemory(redis);
    const parkStarted = performance.now();
    const parked = await inParallel(WAITING, N, park);
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

    const waitingFor = kind === 'customer' ? 'their customer (3-D Secure)' : 'a partner (202, callback later)';
    const results = [
      summary('nothing waiting, before', before),
      summary(`${waitingIds.length} waiting for ${waitingFor}`, during),
      summary('nothing waiting, after', after),
    ];
    const alone = (results[0]!.perSecond + results[2]!.perSecond) / 2;
    console.log(`waiting for ${waitingFor}: N=${N}, ${SECONDS}s each, one redis-server, default concurrency`);
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
      kind,
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
    partner.closeAllConnections();
    partner.close();
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await waitingPhase((process.argv[2] as WaitKind | undefined) ?? 'customer');
  process.exit();
}
