/**
 * npm run bench — the purchase system beside bare BullMQ, in one run, on one
 * redis-server (AOF on, appendfsync everysec). Prints a table, writes JSON.
 *   BENCH_N (64) concurrent clients, BENCH_SECONDS (15) per phase, BENCH_SOAK_S (0) soak length,
 *   BENCH_RETENTION_S (60) record retention of the system under test.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowProducer, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/local-redis.js';
import { baselineFlow, baselineRootId } from './baseline-flow.js';
import { ROOT_STAGE, STAGES, STEPS } from '../src/queues/contract.js';
import { freePort } from '../test/helpers/free-port.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 0);
// Finished purchase records and notifications expire after this (orders and the Product Store stay).
const RETENTION_S = process.env.BENCH_RETENTION_S ?? '60';
const root = path.resolve(import.meta.dirname, '..');

interface PhaseResult {
  name: string;
  ops: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  redisCommandsPerOp?: number;
  peakRssMb: Record<string, number>;
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0);

/** N workers in a closed loop for `seconds`: each starts its next op when the last one ends. */
async function closedLoop(n: number, seconds: number, op: (worker: number, i: number) => Promise<boolean>) {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const ok = await op(w, i).catch(() => false);
        if (ok) latencies.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, errors, seconds: elapsed, perSecond: latencies.length / elapsed, p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99) };
}

async function commandCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return [...info.matchAll(/calls=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
}

function peakRssMb(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb) / 1024);
  } catch {
    return NaN;
  }
}

function start(script: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(root, script), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

async function waitHttp(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** A bare BullMQ flow in a closed loop; `perStage` gives it our flow's job count instead of one job per step. */
async function baseline(redisUrl: string, redis: Redis, perStage: boolean): Promise<PhaseResult> {
  const workers = await start('bench/baseline-workers.ts', { REDIS_URL: redisUrl });
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const producer = new FlowProducer({ connection, prefix: 'bench' });
  // One QueueEvents for every waiting producer, as a real service would share it.
  const events = new QueueEvents(`bench-${ROOT_STAGE.queue}`, { connection: connection.duplicate(), prefix: 'bench' });
  await events.waitUntilReady();
  const waiting = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => waiting.get(jobId)?.());
  const before = await commandCount(redis);
  const run = await closedLoop(N, SECONDS, async (w, i) => {
    const id = `b${perStage ? 's' : ''}${w}x${i}x${Date.now()}`;
    const root = baselineRootId(id, perStage);
    const done = new Promise<void>((r) => waiting.set(root, r));
    await producer.add(baselineFlow(id, perStage));
    await done;
    waiting.delete(root);
    return true;
  });
  const commands = (await commandCount(redis)) - before;
  const rss = { workers: peakRssMb(workers.pid!), producers: Math.round(process.resourceUsage().maxRSS / 1024) };
  await events.close();
  await producer.close();
  connection.disconnect();
  await stop(workers);
  const name = perStage ? `reference: bare BullMQ flow, one job per stage (${STAGES.length} jobs)` : `baseline: bare BullMQ flow, one job per step (${STEPS.length} jobs)`;
  return { name, ...run, redisCommandsPerOp: commands / run.ops, peakRssMb: rss };
}

async function token(authUrl: string, sub: string): Promise<string> {
  const res = await fetch(`${authUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub, ttlSeconds: 3600 }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-'));
  const redisPort = await freePort();
  const server = await startRedisServer({ dir, port: redisPort, appendfsync: 'everysec' });
  const redis = new Redis(server.url);
  const results: PhaseResult[] = [];
  const catalogFile = path.join(dir, 'catalog.json');
  writeFileSync(catalogFile, JSON.stringify({ products: [{ id: 'bench-plan', name: 'Bench plan', price: { amount: 1000, currency: 'USD' }, stock: 1_000_000_000 }] }));
  const cores = os.cpus().length;
  console.log(`purchase-system bench: N=${N}, ${SECONDS}s per phase, ${cores} cores, ${os.cpus()[0]?.model}, node ${process.version}, RETENTION_S=${RETENTION_S}`);

  try {
    results.push(await baseline(server.url, redis, false));
    console.log(`  baseline done: ${results[0]!.perSecond.toFixed(0)}/s`);
    const reference = await baseline(server.url, redis, true);
    console.log(`  reference done: ${reference.perSecond.toFixed(0)}/s`);

    const [port, authPort, barePort] = await Promise.all([freePort(), freePort(), freePort()]);
    const env = {
      REDIS_URL: server.url,
      PORT: String(port),
      AUTH_PORT: String(authPort),
      KEY_PREFIX: 'bsys',
      CATALOG_FILE: catalogFile,
      RATE_LIMIT_POINTS: '1000000000',
      READ_RATE_LIMIT_POINTS: '1000000000',
      LOG_LEVEL: 'warn',
      SYNC_TIMEOUT_MS: '30000',
      RETENTION_S: RETENTION_S,
    };
    // The deployment the README recommends, on the same two cores the baseline uses: a
    // gateway(+auth) process and a workers process, both started by src/main.ts.
    const spawnRole = (roles: string) =>
      fork(path.join(root, 'src/main.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env, ROLES: roles }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const workersProc = spawnRole('workers');
    const system = spawnRole('gateway,auth');
    const gateway = `http://127.0.0.1:${port}`;
    const authUrl = `http://127.0.0.1:${authPort}`;
    await waitHttp(`${gateway}/healthz`);
    await waitHttp(`${gateway}/readyz`);
    const tokens = await Promise.all(Array.from({ length: N }, (_, i) => token(authUrl, `bench-${i}`)));
    const body = JSON.stringify({ items: [{ productId: 'bench-plan', quantity: 1 }], payment: { token: 'tok_visa' } });
    const post = (w: number, i: number, extra: Record<string, string> = {}) =>
      fetch(`${gateway}/v1/purchases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json', 'idempotency-key': `k-${w}-${i}-${Date.now()}`, ...extra },
        body,
      });

    const memBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    const before = await commandCount(redis);
    const sync = await closedLoop(N, SECONDS, async (w, i) => {
      const res = await post(w, i);
      await res.arrayBuffer();
      return res.status === 201;
    });
    const commands = (await commandCount(redis)) - before;
    const memAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    results.push({ name: 'system: sync POST /v1/purchases (whole saga)', ...sync, redisCommandsPerOp: commands / sync.ops, peakRssMb: { gateway: peakRssMb(system.pid!), workers: peakRssMb(workersProc.pid!) } });
    console.log(`  system done: ${sync.perSecond.toFixed(0)}/s, errors ${sync.errors}`);

    const accept = await closedLoop(N, SECONDS, async (w, i) => {
      const res = await post(w, 1_000_000 + i, { prefer: 'respond-async' });
      await res.arrayBuffer();
      return res.status === 202;
    });
    results.push({ name: 'gateway: async POST accept', ...accept, peakRssMb: { gateway: peakRssMb(system.pid!), workers: peakRssMb(workersProc.pid!) } });

    const bare = await start('bench/bare-jwt-server.ts', { PORT: String(barePort), AUTH_JWKS_URL: `${authUrl}/.well-known/jwks.json` });
    const bareRun = await closedLoop(N, SECONDS, async (w) => {
      const res = await fetch(`http://127.0.0.1:${barePort}/v1/purchases`, { method: 'POST', headers: { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      return res.status === 202;
    });
    results.push({ name: 'bare Hono route verifying the same JWT', ...bareRun, peakRssMb: { bare: peakRssMb(bare.pid!) } });
    await stop(bare);
    results.push(reference);

    let soak: Record<string, number> | undefined;
    if (SOAK_S > 0) {
      const sample = async () => ({ redis: Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]), rss: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${system.pid}/status`, 'utf8'))?.[1]) * 1024 });
      const half = Math.max(1, Math.round(N / 2));
      await closedLoop(half, Math.min(30, SOAK_S / 5), async (w, i) => (await post(w, 2_000_000 + i)).status === 201);
      const first = await sample();
      const run = await closedLoop(half, SOAK_S, async (w, i) => {
        const res = await post(w, 3_000_000 + i);
        await res.arrayBuffer();
        return res.status === 201;
      });
      const last = await sample();
      soak = { seconds: SOAK_S, purchases: run.ops, errors: run.errors, redisGrowthPct: (100 * (last.redis - first.redis)) / first.redis, rssGrowthPct: (100 * (last.rss - first.rss)) / first.rss };
    }
    await stop(system);
    await stop(workersProc);

    const [base, sys, acc, bareR] = results as [PhaseResult, PhaseResult, PhaseResult, PhaseResult];
    const summary = {
      date: new Date().toISOString(),
      machine: { cores, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      n: N,
      seconds: SECONDS,
      results,
      ratios: {
        systemVsBaselineThroughput: sys.perSecond / base.perSecond,
        systemVsBaselineP99: sys.p99 / base.p99,
        acceptVsBareJwt: acc.perSecond / bareR.perSecond,
        systemVsSameJobCountThroughput: sys.perSecond / reference.perSecond,
        systemVsSameJobCountP99: sys.p99 / reference.p99,
      },
      redisBytesPerRetainedPurchase: (memAfter - memBefore) / sys.ops,
      ...(soak ? { soak } : {}),
    };
    console.log('');
    console.log('| phase | ops/s | p50 ms | p95 ms | p99 ms | errors | Redis cmds/op | peak RSS MB |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of results) {
      const rss = Object.entries(r.peakRssMb).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`| ${r.name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.redisCommandsPerOp?.toFixed(1) ?? '–'} | ${rss} |`);
    }
    console.log('');
    console.log(`system/baseline throughput ${summary.ratios.systemVsBaselineThroughput.toFixed(2)} (target ≥ 0.70)`);
    console.log(`system/baseline p99        ${summary.ratios.systemVsBaselineP99.toFixed(2)} (target ≤ 2.00)`);
    console.log(`async accept / bare JWT    ${summary.ratios.acceptVsBareJwt.toFixed(2)} (target ≥ 0.50)`);
    console.log(`for reference, against a bare flow with our job count: throughput ${summary.ratios.systemVsSameJobCountThroughput.toFixed(2)}, p99 ${summary.ratios.systemVsSameJobCountP99.toFixed(2)}`);
    console.log(`Redis memory per retained purchase ${(summary.redisBytesPerRetainedPurchase / 1024).toFixed(1)} KiB`);
    if (soak) console.log(`soak ${SOAK_S}s: ${soak.purchases} purchases, ${soak.errors} errors, Redis memory ${soak.redisGrowthPct.toFixed(1)}%, RSS ${soak.rssGrowthPct.toFixed(1)}%`);
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(path.join(root, 'bench/results/latest.json'), JSON.stringify(summary, null, 2));
    console.log('written bench/results/latest.json');
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
