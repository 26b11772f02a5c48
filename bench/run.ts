/**
 * npm run bench — the purchase system beside bare BullMQ, in one run, on one
 * redis-server (AOF on, appendfsync everysec). Prints a table, writes JSON.
 *   BENCH_N (64) concurrent clients, BENCH_SECONDS (15) per phase after BENCH_WARMUP_S (3) unmeasured,
 *   taken in BENCH_ROUNDS (3) turns with the phase it is compared with, BENCH_SOAK_S (0) soak length,
 *   BENCH_RETENTION_S (60) record retention of the system under test,
 *   BENCH_CLUSTER=0 skips the scale-out phase (bench/cluster.ts: one redis-server against a 3-master cluster).
 *   BENCH_REPLICA_LOSS=0 skips the replica-loss phase (bench/replica-loss.ts: throughput before and after a replica is lost).
 *   BENCH_CAPTURE=0 skips the capture-modes phase (bench/capture-modes.ts: capture at the pivot against at once).
 *   BENCH_WAITING (1000) purchases wait for their customer, then for a partner, while others buy (bench/waiting.ts); 0 skips it.
 *   BENCH_UNITS_PHASE=0 skips the units phase (bench/units.ts: a 10-unit purchase at a 300 ms partner).
 *   BENCH_ISOLATION=0 skips the isolation phase (bench/isolation.ts: one partner hanging, another's purchases' p99).
 * docs/performance.md describes the method, each figure printed, and the targets.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowProducer, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createKeys } from '../src/keys.js';
import { startRedisServer } from '../src/local-redis.js';
import { baselineFlow, baselineRootId } from './baseline-flow.js';
import { httpClient } from './http-client.js';
import { closedLoop } from './loops.js';
import { stop, waitHttp } from './processes.js';
import { captureModesPhase } from './capture-modes.js';
import { isolationPhase } from './isolation.js';
import { unitsPhase } from './units.js';
import { waitingPhase } from './waiting.js';
import { benchCatalog, clusterPhase } from './cluster.js';
import { replicaLossPhase } from './replica-loss.js';
import { census, growth, totalBytes } from './redis-census.js';
import { ROOT_STAGE, SAGA, START_STAGE, STEPS } from '../src/saga/saga.js';
import { freePort } from '../harness/free-port.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 0);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// Finished purchase records and notifications expire after this (orders and the Product Store stay).
const RETENTION_S = process.env.BENCH_RETENTION_S ?? '60';
const root = path.resolve(import.meta.dirname, '..');
const execArgv = ['--import', 'tsx'];

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
  /** CPU ms per op of each process (the bench's own client, Redis, the processes under test). */
  cpuMsPerOp?: Record<string, number>;
  /** The busiest Redis commands, calls per op. */
  redisCommandMix?: Record<string, number>;
  peakRssMb: Record<string, number>;
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;

/** What a phase drives: the processes whose CPU it counts, and one operation (true = success). */
interface Contender {
  pids: Record<string, number>;
  op: (worker: number, i: number) => Promise<boolean>;
}

/** One closed-loop slice of a contender, measured from outside. */
interface Slice {
  latencies: number[];
  errors: number;
  seconds: number;
  calls: Map<string, number>;
  cpu: Record<string, number>;
}

/**
 * Contenders measured in turns: a warm-up each (unmeasured, so no phase pays for JIT
 * compilation and cold caches), then ROUNDS rounds of SECONDS / ROUNDS per contender.
 * A shared VM drifts by tens of percent over minutes; taking turns puts the drift on all
 * contenders alike, so their ratio holds. Each gets Redis commands and CPU per op of the
 * bench's client, Redis and its own processes.
 */
async function inTurns(redis: Redis, contenders: Contender[]) {
  const warmUpErrors = contenders.map(() => 0);
  for (const [k, c] of contenders.entries())
    if (WARMUP_S > 0) warmUpErrors[k] = (await closedLoop(N, WARMUP_S, (w, i) => c.op(w, 10_000_000 + i))).errors;
  const slices: Slice[][] = contenders.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, c] of contenders.entries()) {
      const [calls, cpu] = [await commandCalls(redis), await cpuMs(redis, c.pids)];
      const run = await closedLoop(N, SECONDS / ROUNDS, (w, i) => c.op(w, round * 1_000_000 + i));
      const [callsAfter, cpuAfter] = [await commandCalls(redis), await cpuMs(redis, c.pids)];
      slices[k]!.push({
        ...run,
        calls: delta(calls, callsAfter),
        cpu: Object.fromEntries(Object.entries(cpuAfter).map(([p, v]) => [p, v - (cpu[p] ?? 0)])),
      });
    }
  }
  // An error in the warm-up is still an error of the benchmark.
  return slices.map((ss, k) => summarize(ss, warmUpErrors[k]!));
}

function summarize(slices: Slice[], warmUpErrors = 0) {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((t, s) => t + s.seconds, 0);
  const ops = latencies.length;
  const calls = new Map<string, number>();
  const cpu: Record<string, number> = {};
  for (const s of slices) {
    for (const [cmd, n] of s.calls) calls.set(cmd, (calls.get(cmd) ?? 0) + n);
    for (const [p, v] of Object.entries(s.cpu)) cpu[p] = (cpu[p] ?? 0) + v;
  }
  const commands = commandsPerOp(calls, ops);
  return {
    ops,
    errors: slices.reduce((t, s) => t + s.errors, warmUpErrors),
    seconds,
    perSecond: ops / seconds,
    p50: pct(latencies, 50),
    p95: pct(latencies, 95),
    p99: pct(latencies, 99),
    redisCommandsPerOp: commands.total,
    redisCommandMix: commands.top,
    cpuMsPerOp: Object.fromEntries(Object.entries(cpu).map(([p, v]) => [p, Math.round((100 * v) / ops) / 100])),
  };
}

/** Calls per Redis command so far (INFO commandstats). */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  return new Map([...info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

const delta = (before: Map<string, number>, after: Map<string, number>) =>
  new Map([...after].map(([cmd, n]) => [cmd, n - (before.get(cmd) ?? 0)]));

/** Commands per op: the total and the busiest commands. */
function commandsPerOp(calls: Map<string, number>, ops: number) {
  const perOp = [...calls].map(([cmd, n]) => [cmd, n / ops] as const).filter(([, n]) => n > 0);
  const total = perOp.reduce((s, [, n]) => s + n, 0);
  const top = Object.fromEntries(
    perOp
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([cmd, n]) => [cmd, Math.round(n * 10) / 10]),
  );
  return { total, top };
}

/** CPU time (user + system) of each process so far, in ms: the bench itself, Redis, and the given pids. */
async function cpuMs(redis: Redis, pids: Record<string, number>): Promise<Record<string, number>> {
  const info = await redis.info('cpu');
  const redisS = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
  const self = process.cpuUsage();
  const out: Record<string, number> = { client: (self.user + self.system) / 1000, redis: redisS * 1000 };
  const tick = 1000 / 100; // USER_HZ on Linux
  for (const [label, pid] of Object.entries(pids)) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    out[label] = (Number(fields[11]) + Number(fields[12])) * tick;
  }
  return out;
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
    execArgv,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** A bare BullMQ flow, driven in a closed loop; `perStage` gives it our flow's job count instead of one job per step. */
async function bareFlow(redisUrl: string, perStage: boolean) {
  const workers = await start('bench/baseline-workers.ts', { REDIS_URL: redisUrl });
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const producer = new FlowProducer({ connection, prefix: 'bench' });
  // One QueueEvents for every waiting producer, as a real service would share it.
  const events = new QueueEvents(`bench-${ROOT_STAGE.queue}`, { connection: connection.duplicate(), prefix: 'bench' });
  await events.waitUntilReady();
  const waiting = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => waiting.get(jobId)?.());
  const contender: Contender = {
    pids: { workers: workers.pid! },
    async op(w, i) {
      const id = `b${perStage ? 's' : ''}${w}x${i}x${Date.now()}`;
      const root = baselineRootId(id, perStage);
      const done = new Promise<void>((r) => waiting.set(root, r));
      await producer.add(baselineFlow(id, perStage));
      await done;
      waiting.delete(root);
      return true;
    },
  };
  return {
    contender,
    name: perStage
      ? `reference: bare BullMQ flow, one job per stage (${SAGA.length} jobs)`
      : `baseline: bare BullMQ flow, one job per step (${STEPS.length} jobs)`,
    peakRssMb: () => ({
      workers: peakRssMb(workers.pid!),
      producers: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
    async close() {
      await events.close();
      await producer.close();
      connection.disconnect();
      await stop(workers);
    },
  };
}

/** Waits until the system under test has no open purchase; false on timeout. */
async function drain(redis: Redis, openIndex: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await redis.zcard(openIndex)) === 0) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * What the soak does not count as growth: the business's records (orders and the Product
 * Store, with their per-customer indexes), Idempotency-Keys (the contract keeps them 24 h)
 * and the built-in payment provider's ledger (a real provider keeps it on its side).
 */
const KEPT_KINDS = new Set(['order', 'orders', 'provisioned', 'provisioned-by', 'idem', 'provider']);

/**
 * The soak: sync purchases arriving at `rate` per second (half the measured peak) for
 * SOAK_S seconds, after a warm-up longer than the retention, so that records, notifications
 * and jobs expire as fast as they arrive. Memory is sampled after the warm-up and at the
 * end, with a census of every key by kind; what is kept by design is reported apart. The
 * V8 heap in use is sampled every 5 s: its floor (right after a collection) is what a leak
 * raises, where a single sample mostly tells how long ago the last collection was.
 */
async function soakAt(
  redis: Redis,
  prefix: string,
  processes: Record<string, { pid: number; metrics: string }>,
  rate: number,
  op: (i: number) => Promise<{ status: number }>,
) {
  const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  // The V8 heap in use, from prom-client's default metrics: a leak grows it, allocator slack does not.
  const heap = async (url: string) =>
    Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(await (await fetch(url)).text())?.[1]);
  const pids = Object.fromEntries(Object.entries(processes).map(([k, p]) => [k, p.pid]));
  const sample = async () => {
    const keys = await census(redis, prefix);
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    const kept = Object.entries(keys)
      .filter(([kind]) => KEPT_KINDS.has(kind))
      .reduce((s, [, e]) => s + e.bytes, 0);
    return { used, kept, keys, rss: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rss(pid)])) };
  };
  let errors = 0;
  let done = 0;
  const openLoop = async (seconds: number) => {
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    for (let i = 0; performance.now() - started < seconds * 1000; i++) {
      const due = started + (i * 1000) / rate;
      if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      const p: Promise<void> = op(i).then(
        (res) => void (res.status === 201 ? done++ : errors++),
        () => void errors++,
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
  };
  await openLoop(Number(RETENTION_S) + 15);
  const first = await sample();
  [errors, done] = [0, 0];
  const heapSamples: { at: number; heaps: Record<string, number> }[] = [];
  const sampler = setInterval(() => {
    const at = performance.now();
    void Promise.all(Object.entries(processes).map(async ([k, p]) => [k, await heap(p.metrics)] as const)).then(
      (pairs) => heapSamples.push({ at, heaps: Object.fromEntries(pairs) }),
      () => {},
    );
  }, 5_000);
  const soakStarted = performance.now();
  await openLoop(SOAK_S);
  clearInterval(sampler);
  const last = await sample();
  const window = Math.min(60_000, (SOAK_S * 1000) / 3);
  const floor = (k: string, from: number, to: number) =>
    Math.min(...heapSamples.filter((h) => h.at >= from && h.at < to).map((h) => h.heaps[k]!));
  const soakEnded = performance.now();
  const pct = (a: number, b: number) => Math.round((1000 * (b - a)) / a) / 10;
  const mb = (bytes: number) => Math.round(bytes / 2 ** 17) / 8;
  return {
    seconds: SOAK_S,
    ratePerSecond: Math.round(rate),
    purchases: done,
    errors,
    redisGrowthPct: pct(first.used, last.used),
    /** Everything but the kinds kept by design or contract (KEPT_KINDS): used_memory, and the keys' own census. */
    redisGrowthWithoutKeptPct: pct(first.used - first.kept, last.used - last.kept),
    trimmedKeysGrowthPct: pct(totalBytes(first.keys) - first.kept, totalBytes(last.keys) - last.kept),
    keptGrowthMb: mb(last.kept - first.kept),
    /** Per kind of key: count and MB it grew by, biggest first. */
    growthByKind: growth(first.keys, last.keys).map(({ bytes, ...g }) => ({
      ...g,
      mb: mb(bytes),
      kept: KEPT_KINDS.has(g.kind),
    })),
    rssGrowthPct: Object.fromEntries(Object.keys(pids).map((k) => [k, pct(first.rss[k]!, last.rss[k]!)])),
    rssMb: Object.fromEntries(Object.keys(pids).map((k) => [k, [mb(first.rss[k]!), mb(last.rss[k]!)]])),
    /** The lowest heap in use in the soak's first and last minute, MB, and its growth. */
    heapFloorMb: Object.fromEntries(
      Object.keys(pids).map((k) => [
        k,
        [mb(floor(k, soakStarted, soakStarted + window)), mb(floor(k, soakEnded - window, soakEnded))],
      ]),
    ),
    heapFloorGrowthPct: Object.fromEntries(
      Object.keys(pids).map((k) => [
        k,
        pct(floor(k, soakStarted, soakStarted + window), floor(k, soakEnded - window, soakEnded)),
      ]),
    ),
  };
}

async function token(authUrl: string, sub: string): Promise<string> {
  const res = await fetch(`${authUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, ttlSeconds: 3600 }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-'));
  const redisPort = await freePort();
  const server = await startRedisServer({ dir, port: redisPort, appendfsync: 'everysec' });
  const redis = new Redis(server.url);
  const results: PhaseResult[] = [];
  const catalogFile = benchCatalog(dir);
  const cores = os.cpus().length;
  console.log(
    `purchase-system bench: N=${N}, ${SECONDS}s per phase, ${cores} cores, ${os.cpus()[0]?.model}, node ${process.version}, RETENTION_S=${RETENTION_S}`,
  );

  try {
    const refFlow = await bareFlow(server.url, true);
    const [referenceRun] = await inTurns(redis, [refFlow.contender]);
    const reference: PhaseResult = { name: refFlow.name, ...referenceRun!, peakRssMb: refFlow.peakRssMb() };
    await refFlow.close();
    console.log(`  reference done: ${reference.perSecond.toFixed(0)}/s`);

    const [port, authPort, barePort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const env = {
      REDIS_URL: server.url,
      PORT: String(port),
      AUTH_PORT: String(authPort),
      // The workers process serves its /metrics here (the gateway serves its own on PORT).
      METRICS_PORT: String(metricsPort),
      KEY_PREFIX: 'bsys',
      CATALOG_FILE: catalogFile,
      RATE_LIMIT_POINTS: '1000000000',
      READ_RATE_LIMIT_POINTS: '1000000000',
      LOG_LEVEL: 'warn',
      SYNC_TIMEOUT_MS: '30000',
      RETENTION_S: RETENTION_S,
    };
    // The deployment docs/operations.md describes, on the same two cores the baseline uses: a
    // gateway(+auth) process and a workers process, both started by src/main.ts.
    const spawnRole = (roles: string) =>
      fork(path.join(root, 'src/main.ts'), [], {
        execArgv,
        env: { ...process.env, ...env, ROLES: roles },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
    const workersProc = spawnRole('workers');
    const system = spawnRole('gateway,auth');
    const gateway = `http://127.0.0.1:${port}`;
    const authUrl = `http://127.0.0.1:${authPort}`;
    await waitHttp(`${gateway}/healthz`);
    await waitHttp(`${gateway}/readyz`);
    const tokens = await Promise.all(Array.from({ length: N }, (_, i) => token(authUrl, `bench-${i}`)));
    const body = JSON.stringify({ items: [{ productId: 'bench-plan', quantity: 1 }], payment: { token: 'tok_visa' } });
    const client = httpClient(N);
    const post = (w: number, i: number, extra: Record<string, string> = {}) =>
      client.post(
        `${gateway}/v1/purchases`,
        {
          authorization: `Bearer ${tokens[w]}`,
          'content-type': 'application/json',
          'idempotency-key': `k-${w}-${i}-${Date.now()}`,
          ...extra,
        },
        body,
      );

    // The baseline and the system take turns (see inTurns); each idles while the other runs.
    const baseFlow = await bareFlow(server.url, false);
    const pids = { gateway: system.pid!, workers: workersProc.pid! };
    const systemKeysBefore = totalBytes(await census(redis, env.KEY_PREFIX));
    const [base, sync] = await inTurns(redis, [
      baseFlow.contender,
      { pids, op: async (w, i) => (await post(w, i)).status === 201 },
    ]);
    // The system's own keys only (a census of its prefix), so the baseline's jobs do not count.
    const retainedBytesPerPurchase = (totalBytes(await census(redis, env.KEY_PREFIX)) - systemKeysBefore) / sync!.ops;
    results.push({ name: baseFlow.name, ...base!, peakRssMb: baseFlow.peakRssMb() });
    await baseFlow.close();
    results.push({
      name: 'system: sync POST /v1/purchases (whole saga)',
      ...sync!,
      peakRssMb: { gateway: peakRssMb(system.pid!), workers: peakRssMb(workersProc.pid!) },
    });
    console.log(
      `  baseline and system done: ${base!.perSecond.toFixed(0)}/s and ${sync!.perSecond.toFixed(0)}/s, errors ${base!.errors} and ${sync!.errors}`,
    );

    // The gateway and the bare route take turns, with the CPU to themselves: the workers stay up (the gateway
    // checks their heartbeat) but the queue they take purchases from is paused; they run the backlog afterwards.
    const bare = await start('bench/bare-jwt-server.ts', {
      PORT: String(barePort),
      AUTH_JWKS_URL: `${authUrl}/.well-known/jwks.json`,
    });
    const handOff = new Queue(START_STAGE.queue, {
      connection: redis,
      prefix: createKeys(env.KEY_PREFIX).queuePrefix(0),
    });
    await handOff.pause();
    const [accept, bareRun] = await inTurns(redis, [
      {
        pids: { gateway: system.pid! },
        op: async (w, i) => (await post(w, 5_000_000 + i, { prefer: 'respond-async' })).status === 202,
      },
      {
        pids: { bare: bare.pid! },
        op: async (w) =>
          (
            await client.post(
              `http://127.0.0.1:${barePort}/v1/purchases`,
              { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json' },
              body,
            )
          ).status === 202,
      },
    ]);
    await handOff.resume();
    await handOff.close();
    results.push({
      name: 'gateway: async POST accept',
      ...accept!,
      peakRssMb: { gateway: peakRssMb(system.pid!), workers: peakRssMb(workersProc.pid!) },
    });
    results.push({
      name: 'bare Hono route verifying the same JWT',
      ...bareRun!,
      peakRssMb: { bare: peakRssMb(bare.pid!) },
    });
    await stop(bare);
    // The accepted purchases finish before the soak, so they do not compete with it.
    const backlog = await drain(redis, createKeys(env.KEY_PREFIX).purchasesOpen(0), 180_000);
    console.log(
      `  accept and bare route done: ${accept!.perSecond.toFixed(0)}/s and ${bareRun!.perSecond.toFixed(0)}/s; backlog drained${backlog ? '' : ' NOT (timed out)'}`,
    );
    results.push(reference);

    let soak: Awaited<ReturnType<typeof soakAt>> | undefined;
    if (SOAK_S > 0) {
      const processes = {
        gateway: { pid: system.pid!, metrics: `${gateway}/metrics` },
        workers: { pid: workersProc.pid!, metrics: `http://127.0.0.1:${metricsPort}/metrics` },
      };
      soak = await soakAt(redis, env.KEY_PREFIX, processes, sync!.perSecond / 2, (i) => post(i % N, 3_000_000 + i));
      console.log(`  soak done: ${soak.purchases} purchases`);
    }
    client.close();
    await stop(system);
    await stop(workersProc);

    const [baseR, sys, acc, bareR] = results as [PhaseResult, PhaseResult, PhaseResult, PhaseResult];
    const summary = {
      date: new Date().toISOString(),
      machine: { cores, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      n: N,
      seconds: SECONDS,
      results,
      ratios: {
        systemVsBaselineThroughput: sys.perSecond / baseR.perSecond,
        systemVsBaselineP99: sys.p99 / baseR.p99,
        acceptVsBareJwt: acc.perSecond / bareR.perSecond,
        systemVsSameJobCountThroughput: sys.perSecond / reference.perSecond,
        systemVsSameJobCountP99: sys.p99 / reference.p99,
      },
      redisBytesPerRetainedPurchase: retainedBytesPerPurchase,
      ...(soak ? { soak } : {}),
    };
    console.log('');
    console.log('| phase | ops/s | p50 ms | p95 ms | p99 ms | errors | Redis cmds/op | peak RSS MB |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of results) {
      const rss = Object.entries(r.peakRssMb)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(
        `| ${r.name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.redisCommandsPerOp?.toFixed(1) ?? '–'} | ${rss} |`,
      );
    }
    console.log('');
    console.log(`system/baseline throughput ${summary.ratios.systemVsBaselineThroughput.toFixed(2)} (target ≥ 0.70)`);
    console.log(`system/baseline p99        ${summary.ratios.systemVsBaselineP99.toFixed(2)} (target ≤ 2.00)`);
    console.log(`async accept / bare JWT    ${summary.ratios.acceptVsBareJwt.toFixed(2)} (target ≥ 0.50)`);
    console.log(
      `for reference, against a bare flow with our job count: throughput ${summary.ratios.systemVsSameJobCountThroughput.toFixed(2)}, p99 ${summary.ratios.systemVsSameJobCountP99.toFixed(2)}`,
    );
    for (const r of [baseR, reference, sys, acc, bareR])
      console.log(
        `CPU ms per op, ${r.name.split(':')[0]}: ${Object.entries(r.cpuMsPerOp ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}, total ${Object.values(r.cpuMsPerOp ?? {})
          .reduce((a, b) => a + b, 0)
          .toFixed(2)}`,
      );
    for (const r of [baseR, reference, sys, acc])
      console.log(
        `Redis commands per op, ${r.name.split(':')[0]}: ${Object.entries(r.redisCommandMix ?? {})
          .map(([c, n]) => `${c} ${n}`)
          .join(', ')}`,
      );
    console.log(`Redis memory per retained purchase ${(summary.redisBytesPerRetainedPurchase / 1024).toFixed(1)} KiB`);
    if (soak) {
      console.log(
        `soak ${SOAK_S}s at ${soak.ratePerSecond}/s (half the sync peak): ${soak.purchases} purchases, ${soak.errors} errors`,
      );
      console.log(
        `  Redis memory ${soak.redisGrowthPct}%; without what is kept by design (${[...KEPT_KINDS].join(', ')}): ${soak.redisGrowthWithoutKeptPct}% (used_memory), ${soak.trimmedKeysGrowthPct}% (the keys' census); what is kept grew ${soak.keptGrowthMb} MB`,
      );
      console.log(
        `  grew, per kind of key: ${soak.growthByKind
          .slice(0, 10)
          .map((g) => `${g.kind} ${g.keys >= 0 ? '+' : ''}${g.keys} keys ${g.mb} MB`)
          .join('; ')}`,
      );
      console.log(
        `  RSS ${Object.entries(soak.rssGrowthPct)
          .map(([k, v]) => `${k} ${v}% (${soak.rssMb[k]!.join(' → ')} MB)`)
          .join(', ')}`,
      );
      console.log(
        `  V8 heap in use, lowest in the first and the last minute: ${Object.entries(soak.heapFloorGrowthPct)
          .map(([k, v]) => `${k} ${v}% (${soak.heapFloorMb[k]!.join(' → ')} MB)`)
          .join(', ')}`,
      );
    }
    // Scale-out: the same sync load on one redis-server and on a 3-master cluster, in turns (bench/cluster.ts).
    const scaleOut = process.env.BENCH_CLUSTER === '0' ? undefined : await clusterPhase();
    // A replica kill -9'd under load, on a cluster and on Sentinel (bench/replica-loss.ts).
    const replicaLoss = process.env.BENCH_REPLICA_LOSS === '0' ? undefined : await replicaLossPhase();
    // The pivot's extra provider call: capture at the pivot against capture at once, in turns (bench/capture-modes.ts).
    const captureModes = process.env.BENCH_CAPTURE === '0' ? undefined : await captureModesPhase();
    // Purchases waiting for their customer beside ordinary ones (bench/waiting.ts).
    const waiting =
      process.env.BENCH_WAITING === '0' ? undefined : [await waitingPhase('customer'), await waitingPhase('partner')];
    // A many-unit purchase at a slow partner: its units side by side (bench/units.ts).
    const units = process.env.BENCH_UNITS_PHASE === '0' ? undefined : await unitsPhase();
    // One partner hanging beside another's purchases (bench/isolation.ts).
    const isolation = process.env.BENCH_ISOLATION === '0' ? undefined : await isolationPhase();
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(
      path.join(root, 'bench/results/latest.json'),
      JSON.stringify({ ...summary, scaleOut, replicaLoss, captureModes, waiting, units, isolation }, null, 2),
    );
    console.log('written bench/results/latest.json');
    const errors =
      results.reduce((n, r) => n + r.errors, 0) +
      (soak?.errors ?? 0) +
      [...(scaleOut ?? []), ...(replicaLoss ?? []), ...(captureModes ?? [])].reduce((n, r) => n + r.errors, 0) +
      (waiting ?? []).reduce((n, w) => n + w.errors, 0) +
      (units ?? []).reduce((n, r) => n + r.errors, 0) +
      (isolation ?? []).reduce((n, r) => n + r.errors, 0);
    if (errors > 0) {
      console.error(`${errors} errors during the benchmark (target: none)`);
      process.exitCode = 1;
    }
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit();
