/**
 * The scale-out comparison of npm run bench (also alone: `npx tsx bench/cluster.ts`): the same sync
 * load (BENCH_N clients doing full sync POST /v1/purchases) on one redis-server and on a Redis Cluster
 * in production's shape (3 masters with a replica each, WAIT for it before each acknowledgement, 16
 * shards with their slots laid out evenly on the masters), in turns (BENCH_ROUNDS rounds of
 * BENCH_SECONDS / rounds each, after a BENCH_WARMUP_S warm-up each). Then the single server once more,
 * offered the cluster's rate, so that both are also compared doing the same work per second.
 * Prints throughput, p99, Redis commands and CPU per purchase, each master's share of the commands,
 * the keys and the CPU, the replicas' and the gateway+workers' CPU per purchase, what WAIT cost, and
 * the targets (docs/performance.md says what each figure means).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../harness/free-port.js';
import { placeTags, slotMasters, startTestCluster } from '../harness/redis-cluster.js';
import { httpClient } from './http-client.js';
import { closedLoop as closedLoopOf, pacedLoop, type LoopRun } from './loops.js';
import { stop, waitHttp, benchRedis } from './processes.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** REDIS_SHARDS's default on a cluster. */
const SHARDS = 16;
const PREFIX = 'bscale';
const root = path.resolve(import.meta.dirname, '..');
type Op = (w: number, i: number) => Promise<boolean>;
const closedLoop = (seconds: number, op: Op) => closedLoopOf(N, seconds, op);

/** Per Redis server: commands so far (the bench's own INFO, DBSIZE, CLUSTER and PING apart), CPU ms so far, keys. */
async function nodeStats(nodes: Redis[]) {
  return Promise.all(
    nodes.map(async (r) => {
      const [stats, cpu, keys] = await Promise.all([r.info('commandstats'), r.info('cpu'), r.dbsize()]);
      const commands = [...stats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)]
        .filter((m) => !['info', 'dbsize', 'cluster', 'ping'].includes(m[1]!))
        .reduce((n, m) => n + Number(m[2]), 0);
      const cpuMs =
        (Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1])) * 1000;
      return { commands, cpuMs, keys };
    }),
  );
}

type NodeStats = Awaited<ReturnType<typeof nodeStats>>;

/** Per server, the commands and CPU ms a run added. */
const added = (before: NodeStats, after: NodeStats) =>
  after.map((s, n) => ({ commands: s.commands - before[n]!.commands, cpuMs: s.cpuMs - before[n]!.cpuMs }));

/** A gateway+auth and a workers process on `redisEnv`, and a closed-loop sync purchase op (of `items`). */
export async function deployment(
  label: string,
  redisEnv: Record<string, string>,
  catalogFile: string,
  {
    items = [{ productId: 'bench-plan', quantity: 1 }],
    source = root,
  }: {
    /** What `op` buys. */
    items?: { productId: string; quantity: number }[];
    /** The checkout whose src/main.ts runs (bench/versus.ts: an earlier commit's); this one by default. */
    source?: string;
  } = {},
) {
  // redisEnv may also set KEY_PREFIX (two deployments on one server) or any other setting.
  const [port, authPort] = await Promise.all([freePort(), freePort()]);
  const env = {
    KEY_PREFIX: PREFIX,
    ...redisEnv,
    PORT: String(port),
    AUTH_PORT: String(authPort),
    CATALOG_FILE: catalogFile,
    RATE_LIMIT_POINTS: '1000000000',
    READ_RATE_LIMIT_POINTS: '1000000000',
    LOG_LEVEL: 'warn',
    SYNC_TIMEOUT_MS: '30000',
    RETENTION_S: '60',
  };
  const spawnRole = (roles: string) =>
    fork(path.join(source, 'src/main.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env, ROLES: roles },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
  const procs = [spawnRole('workers'), spawnRole('gateway,auth')];
  const gateway = `http://127.0.0.1:${port}`;
  await waitHttp(`${gateway}/readyz`);
  const tokens = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const res = await fetch(`http://127.0.0.1:${authPort}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub: `${label}-${i}`, ttlSeconds: 3600 }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    }),
  );
  const client = httpClient(N);
  const body = JSON.stringify({ items, payment: { token: 'tok_visa' } });
  return {
    label,
    gateway,
    /** A POST to the gateway as client `w` (its token), with JSON `body`. */
    post: (w: number, route: string, payload: unknown, headers: Record<string, string> = {}) =>
      client.post(
        `${gateway}${route}`,
        { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json', ...headers },
        JSON.stringify(payload),
      ),
    /** CPU ms so far of the gateway and workers processes. */
    processCpuMs: () =>
      procs.reduce((ms, p) => {
        const fields = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return ms + (Number(fields[11]) + Number(fields[12])) * 10;
      }, 0),
    op: async (w: number, i: number) =>
      (
        await client.post(
          `${gateway}/v1/purchases`,
          {
            authorization: `Bearer ${tokens[w]}`,
            'content-type': 'application/json',
            'idempotency-key': `k-${w}-${i}-${Date.now()}`,
          },
          body,
        )
      ).status === 201,
    async close() {
      client.close();
      await Promise.all(procs.map(stop));
    },
  };
}

type Deployment = Awaited<ReturnType<typeof deployment>>;

/** What WAIT cost the gateway: the mean of its purchase_replication_wait_seconds histogram. */
async function waitCost(gateway: string): Promise<{ meanMs: number; count: number; unreplicated: number } | undefined> {
  const text = await (await fetch(`${gateway}/metrics`)).text();
  const sum = Number(/^purchase_replication_wait_seconds_sum (\S+)$/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^purchase_replication_wait_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0);
  const unreplicated = Number(/^purchase_acks_unreplicated_total (\S+)$/m.exec(text)?.[1] ?? 0);
  return count > 0 ? { meanMs: (1000 * sum) / count, count, unreplicated } : undefined;
}

/** The bench's catalog in `dir`: its one product with stock for ever, and any `more`. */
export function benchCatalog(dir: string, more: Record<string, unknown>[] = []): string {
  const catalogFile = path.join(dir, 'catalog.json');
  writeFileSync(
    catalogFile,
    JSON.stringify({
      products: [
        { id: 'bench-plan', name: 'Bench plan', price: { amount: 1000, currency: 'USD' }, stock: 1_000_000_000 },
        ...more,
      ],
    }),
  );
  return catalogFile;
}

export async function clusterPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-scale-'));
  const catalogFile = benchCatalog(dir);
  const single = await benchRedis(dir, 'single');
  const cluster = await startTestCluster({ masters: 3, replicas: 1 });
  const singleRedis = new Redis(single.url);
  const deployments: Deployment[] = [];
  const masters: Redis[] = [];
  const replicas: Redis[] = [];
  const cleanUp = async () => {
    for (const d of deployments) await d.close();
    singleRedis.disconnect();
    for (const m of [...masters, ...replicas]) m.disconnect();
    await cluster.stop();
    await single.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The shards' slots laid out evenly over the masters (docs/architecture.md: the shard layout), inventory with them.
    const tags = Array.from({ length: SHARDS }, (_, s) => `${PREFIX}:${s}`);
    await placeTags(cluster, [...tags, `${PREFIX}:inv`]);
    deployments.push(await deployment('single', { REDIS_URL: single.url }, catalogFile));
    deployments.push(
      await deployment(
        'cluster',
        { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_SHARDS: String(SHARDS), REDIS_WAIT_REPLICAS: '1' },
        catalogFile,
      ),
    );
    const masterPorts = (await slotMasters(cluster.nodes[0]!.port)).map((m) => m.port);
    for (const port of masterPorts) masters.push(new Redis({ port, host: '127.0.0.1' }));
    for (const n of cluster.nodes.filter((n) => !masterPorts.includes(n.port)))
      replicas.push(new Redis({ port: n.port, host: '127.0.0.1' }));
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const nodesOf = (d: Deployment) => (d.label === 'single' ? [singleRedis] : masters);
  /** What `d`'s Redis servers (per master; the replicas in all) and processes spent while `loop` ran its op. */
  const measured = async (d: Deployment, op: Op, loop: (op: Op) => Promise<LoopRun>) => {
    const replicaNodes = d.label === 'cluster' ? replicas : [];
    const [before, replicasBefore] = await Promise.all([nodeStats(nodesOf(d)), nodeStats(replicaNodes)]);
    const cpuBefore = d.processCpuMs();
    const run = await loop(op);
    const cpuAfter = d.processCpuMs();
    const [after, replicasAfter] = await Promise.all([nodeStats(nodesOf(d)), nodeStats(replicaNodes)]);
    return {
      run,
      perNode: added(before, after),
      processCpuMs: cpuAfter - cpuBefore,
      replicaCpuMs: added(replicasBefore, replicasAfter).reduce((n, r) => n + r.cpuMs, 0),
    };
  };
  try {
    for (const d of deployments) if (WARMUP_S > 0) await closedLoop(WARMUP_S, (w, i) => d.op(w, 10_000_000 + i));
    const acc = deployments.map(() => ({
      latencies: [] as number[],
      errors: 0,
      seconds: 0,
      processCpuMs: 0,
      replicaCpuMs: 0,
      perNode: [] as { commands: number; cpuMs: number }[],
    }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, d] of deployments.entries()) {
        const m = await measured(
          d,
          (w, i) => d.op(w, round * 1_000_000 + i),
          (op) => closedLoop(SECONDS / ROUNDS, op),
        );
        const a = acc[k]!;
        a.processCpuMs += m.processCpuMs;
        a.replicaCpuMs += m.replicaCpuMs;
        a.latencies.push(...m.run.latencies);
        a.errors += m.run.errors;
        a.seconds += m.run.seconds;
        m.perNode.forEach((s, n) => {
          const sum = (a.perNode[n] ??= { commands: 0, cpuMs: 0 });
          sum.commands += s.commands;
          sum.cpuMs += s.cpuMs;
        });
      }
    }
    const results = await Promise.all(
      deployments.map(async (d, k) => {
        const a = acc[k]!;
        const ops = a.latencies.length;
        const sorted = a.latencies.sort((x, y) => x - y);
        const keys = (await nodeStats(nodesOf(d))).map((s) => s.keys);
        const commands = a.perNode.reduce((n, s) => n + s.commands, 0);
        return {
          label: d.label,
          perSecond: ops / a.seconds,
          p99: sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0,
          errors: a.errors,
          commandsPerPurchase: commands / ops,
          redisCpuMsPerPurchase: a.perNode.reduce((n, s) => n + s.cpuMs, 0) / ops,
          /** What the replicas spent applying the masters' writes, per purchase (in all). */
          replicaCpuMsPerPurchase: a.replicaCpuMs / ops,
          /** The gateway's and the workers' CPU per purchase. */
          systemCpuMsPerPurchase: a.processCpuMs / ops,
          masters: a.perNode.map((s, n) => ({
            commandShare: s.commands / commands,
            keyShare: keys[n]! / keys.reduce((x, y) => x + y, 0),
            cpuMsPerPurchase: s.cpuMs / ops,
          })),
          wait: d.label === 'cluster' ? await waitCost(d.gateway) : undefined,
        };
      }),
    );
    const [one, many] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(
      `scale-out: N=${N}, ${SECONDS}s each in ${ROUNDS} turns; cluster 3 masters × 1 replica, ${SHARDS} shards`,
    );
    for (const r of results) {
      console.log(
        `  ${r.label}: ${r.perSecond.toFixed(0)}/s, p99 ${r.p99.toFixed(0)} ms, errors ${r.errors}, Redis ${r.commandsPerPurchase.toFixed(1)} cmds and ${r.redisCpuMsPerPurchase.toFixed(2)} CPU ms per purchase${r.label === 'cluster' ? ` (replicas ${r.replicaCpuMsPerPurchase.toFixed(2)} more)` : ''}, gateway+workers ${r.systemCpuMsPerPurchase.toFixed(2)} CPU ms per purchase`,
      );
      if (r.masters.length > 1)
        r.masters.forEach((m, n) =>
          console.log(
            `    master ${n + 1}: ${(100 * m.commandShare).toFixed(1)} % of commands, ${(100 * m.keyShare).toFixed(1)} % of keys, ${m.cpuMsPerPurchase.toFixed(2)} CPU ms per purchase`,
          ),
        );
    }
    const busiest = Math.max(...many.masters.map((m) => m.cpuMsPerPurchase));
    console.log(`  cluster/single throughput ${(many.perSecond / one.perSecond).toFixed(2)} (target ≥ 0.80)`);
    console.log(
      `  busiest master's CPU per purchase / single's ${(busiest / one.redisCpuMsPerPurchase).toFixed(2)} (target ≤ 0.50)`,
    );
    console.log(
      `  smallest master share of commands ${(100 * Math.min(...many.masters.map((m) => m.commandShare))).toFixed(1)} % (target ≥ 20 %)`,
    );
    if (many.wait)
      console.log(
        `  WAIT 1 replica before each acknowledgement: mean ${many.wait.meanMs.toFixed(2)} ms over ${many.wait.count} purchases, ${many.wait.unreplicated} acknowledged unreplicated`,
      );
    // The same comparison at the same work per second: one server offered the cluster's rate. Redis and
    // the processes cost more per purchase at a lower rate (fewer commands per read, write and event-loop
    // turn), and a cluster master, which serves a third of a slower system, lives at that lower rate.
    const paced = await measured(
      deployments[0]!,
      (w, i) => deployments[0]!.op(w, 20_000_000 + i),
      (op) => pacedLoop(N, Math.max(SECONDS / ROUNDS, 5), many.perSecond, op),
    );
    const pacedOps = paced.run.latencies.length;
    const sameRate = {
      perSecond: pacedOps / paced.run.seconds,
      errors: paced.run.errors,
      commandsPerPurchase: paced.perNode[0]!.commands / pacedOps,
      redisCpuMsPerPurchase: paced.perNode[0]!.cpuMs / pacedOps,
      systemCpuMsPerPurchase: paced.processCpuMs / pacedOps,
    };
    console.log(
      `  single paced at the cluster's rate: ${sameRate.perSecond.toFixed(0)}/s, errors ${sameRate.errors}, Redis ${sameRate.commandsPerPurchase.toFixed(1)} cmds and ${sameRate.redisCpuMsPerPurchase.toFixed(2)} CPU ms per purchase, gateway+workers ${sameRate.systemCpuMsPerPurchase.toFixed(2)} CPU ms per purchase`,
    );
    console.log(
      `  at the same purchases/s: busiest master's CPU per purchase / single's ${(busiest / sameRate.redisCpuMsPerPurchase).toFixed(2)}, cluster gateway+workers CPU per purchase / single's ${(many.systemCpuMsPerPurchase / sameRate.systemCpuMsPerPurchase).toFixed(2)}`,
    );
    return [...results, { label: 'single at the cluster rate', ...sameRate }];
  } finally {
    await cleanUp();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await clusterPhase();
  process.exit();
}
