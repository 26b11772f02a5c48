/**
 * The scale-out phase of npm run bench (also alone: `npx tsx bench/cluster.ts`): the same sync
 * load (BENCH_N clients doing full sync POST /v1/purchases) on one redis-server and on a
 * 3-master Redis Cluster, in turns (BENCH_ROUNDS rounds of BENCH_CLUSTER_SECONDS / rounds each,
 * after a BENCH_WARMUP_S warm-up each). Prints throughput, p99, Redis commands and Redis CPU per
 * purchase, and each master's share of the commands, the keys and the CPU.
 *   BENCH_CLUSTER_REPLICAS (1): replicas per master; with one, the cluster runs as in production
 *   (WAIT for one replica before each acknowledgement) and the phase reports what WAIT costs.
 *   BENCH_CLUSTER_SHARDS (16): REDIS_SHARDS on the cluster, their slots placed round-robin on the
 *   masters first (BENCH_CLUSTER_PLACE=0: where CRC16 puts them).
 *   BENCH_DIFFS (8): how many commands the single → cluster per-command comparison lists.
 *   BENCH_RATES (none; e.g. 25,50,100): then both offered each of these purchases/s in turn, with
 *   the whole CPU and the system calls per purchase side by side.
 *   BENCH_LEAN (1): in the same turns, a second cluster in its leanest shape, 3 masters with no
 *   replicas and a shard each (prefix `blean`): the cost of sharding alone, without the replicas'
 *   and the spare shards' (README: what the gap is made of).
 * Then the single server once more, paced at the cluster's rate: both measured at the same work per second.
 * Then, alone, one more turn on the cluster with the shards on two masters and the inventory tag
 * by itself on the third (prefix `binv`): that master's commands and CPU are what inventory costs.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/local-redis.js';
import { freePort } from '../test/helpers/free-port.js';
import { placeTags, slotMasters, startTestCluster } from '../test/helpers/test-cluster.js';
import { httpClient } from './http-client.js';
import { closedLoop as closedLoopOf, pacedLoop, type LoopRun } from './loops.js';
import { stop, waitHttp } from './processes.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REPLICAS = Number(process.env.BENCH_CLUSTER_REPLICAS ?? 1);
const SHARDS = process.env.BENCH_CLUSTER_SHARDS ?? '16';
const LEAN = process.env.BENCH_LEAN !== '0';
const root = path.resolve(import.meta.dirname, '..');
type Op = (w: number, i: number) => Promise<boolean>;
const closedLoop = (seconds: number, op: Op) => closedLoopOf(N, seconds, op);

/**
 * A local process's read and write system calls and context switches so far (Linux /proc): what
 * a command costs beyond its work depends on how many of them share one read, one write, one wake-up.
 */
function kernelCounters(pid: number): { syscalls: number; switches: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return {
      syscalls: field(io, 'syscr') + field(io, 'syscw'),
      switches: field(status, 'voluntary_ctxt_switches') + field(status, 'nonvoluntary_ctxt_switches'),
    };
  } catch {
    return { syscalls: NaN, switches: NaN };
  }
}

/** Per master: commands so far, CPU ms so far, keys. */
async function masterStats(nodes: Redis[]) {
  return Promise.all(
    nodes.map(async (r) => {
      const [stats, cpu, keys, server, serverInfo] = await Promise.all([
        r.info('commandstats'),
        r.info('cpu'),
        r.dbsize(),
        r.info('stats'),
        r.info('server'),
      ]);
      const clusterCalls = Number(/cmdstat_cluster\|slots:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      const connections = Number(/total_connections_received:(\d+)/.exec(server)?.[1] ?? 0);
      const byCommand = new Map(
        [...stats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)]
          .filter((m) => !['info', 'dbsize', 'cluster', 'ping'].includes(m[1]!))
          .map((m) => [m[1]!, Number(m[2])]),
      );
      const commands = [...byCommand.values()].reduce((n, c) => n + c, 0);
      const cpuMs =
        (Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1])) * 1000;
      const { syscalls, switches } = kernelCounters(Number(/process_id:(\d+)/.exec(serverInfo)?.[1]));
      return { commands, byCommand, cpuMs, keys, clusterCalls, connections, syscalls, switches };
    }),
  );
}

type MasterStats = Awaited<ReturnType<typeof masterStats>>;

/** Per master, what a run added: commands (in all and by name), CPU ms, CLUSTER SLOTS calls, connections. */
const added = (before: MasterStats, after: MasterStats) =>
  after.map((s, n) => ({
    commands: s.commands - before[n]!.commands,
    byCommand: new Map([...s.byCommand].map(([name, calls]) => [name, calls - (before[n]!.byCommand.get(name) ?? 0)])),
    cpuMs: s.cpuMs - before[n]!.cpuMs,
    clusterCalls: s.clusterCalls - before[n]!.clusterCalls,
    syscalls: s.syscalls - before[n]!.syscalls,
    switches: s.switches - before[n]!.switches,
    connections: s.connections - before[n]!.connections,
  }));

/** A gateway+auth and a workers process on `redisEnv`, and a closed-loop sync purchase op. */
async function deployment(label: string, redisEnv: Record<string, string>, catalogFile: string, prefix = 'bscale') {
  const [port, authPort] = await Promise.all([freePort(), freePort()]);
  const env = {
    ...redisEnv,
    PORT: String(port),
    AUTH_PORT: String(authPort),
    KEY_PREFIX: prefix,
    CATALOG_FILE: catalogFile,
    RATE_LIMIT_POINTS: '1000000000',
    READ_RATE_LIMIT_POINTS: '1000000000',
    LOG_LEVEL: 'warn',
    SYNC_TIMEOUT_MS: '30000',
    RETENTION_S: '60',
  };
  const spawnRole = (roles: string) =>
    fork(path.join(root, 'src/main.ts'), [], {
      // BENCH_PROFILE=1: V8 CPU profiles of each deployment's processes (bench/profile-summary.ts reads them).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_PROFILE === '1'
          ? [
              '--cpu-prof',
              `--cpu-prof-dir=${path.join(root, 'bench/results/profiles', `${label}-${roles.replace(',', '+')}`)}`,
            ]
          : []),
      ],
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
  const body = JSON.stringify({ items: [{ productId: 'bench-plan', quantity: 1 }], payment: { token: 'tok_visa' } });
  return {
    label,
    gateway,
    /** CPU ms so far of the gateway and workers processes. */
    processCpuMs: () =>
      procs.reduce((ms, p) => {
        const fields = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return ms + (Number(fields[11]) + Number(fields[12])) * 10;
      }, 0),
    /** Read/write system calls and context switches so far of the gateway and workers processes. */
    processKernel: () =>
      procs
        .map((p) => kernelCounters(p.pid!))
        .reduce((t, c) => ({ syscalls: t.syscalls + c.syscalls, switches: t.switches + c.switches })),
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

export async function clusterPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-scale-'));
  const catalogFile = path.join(dir, 'catalog.json');
  writeFileSync(
    catalogFile,
    JSON.stringify({
      products: [
        { id: 'bench-plan', name: 'Bench plan', price: { amount: 1000, currency: 'USD' }, stock: 1_000_000_000 },
      ],
    }),
  );
  const single = await startRedisServer({
    dir: path.join(dir, 'single'),
    port: await freePort(),
    appendfsync: 'everysec',
  });
  const cluster = await startTestCluster({ masters: 3, replicas: REPLICAS });
  const lean = LEAN ? await startTestCluster({ masters: 3, replicas: 0 }) : undefined;
  const singleRedis = new Redis(single.url);
  const deployments: Awaited<ReturnType<typeof deployment>>[] = [];
  const masters: Redis[] = [];
  const replicas: Redis[] = [];
  const leanMasters: Redis[] = [];
  let invPort = 0;
  const cleanUp = async () => {
    for (const d of deployments) await d.close();
    singleRedis.disconnect();
    for (const m of [...masters, ...replicas, ...leanMasters]) m.disconnect();
    await cluster.stop();
    await lean?.stop();
    await single.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The shards' slots laid out evenly over the masters (README: the shard layout), inventory with them.
    const shardTags = (prefix: string) => Array.from({ length: Number(SHARDS) }, (_, s) => `${prefix}:${s}`);
    if (process.env.BENCH_CLUSTER_PLACE !== '0') await placeTags(cluster, [...shardTags('bscale'), 'bscale:inv']);
    // The inventory turn's layout: its shards on masters 1 and 2, its inventory alone on master 3.
    const invTags = [...shardTags('binv'), 'binv:inv'];
    invPort = (await placeTags(cluster, invTags, (i) => (i === invTags.length - 1 ? 2 : i % 2)))[2]!;
    deployments.push(await deployment('single', { REDIS_URL: single.url }, catalogFile));
    deployments.push(
      await deployment(
        'cluster',
        { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_SHARDS: SHARDS, REDIS_WAIT_REPLICAS: String(REPLICAS > 0 ? 1 : 0) },
        catalogFile,
      ),
    );
    if (lean) {
      await placeTags(lean, ['blean:0', 'blean:1', 'blean:2', 'blean:inv']);
      deployments.push(
        await deployment(
          'lean',
          { REDIS_CLUSTER_NODES: lean.seeds, REDIS_SHARDS: '3', REDIS_WAIT_REPLICAS: '0' },
          catalogFile,
          'blean',
        ),
      );
      for (const n of lean.nodes) leanMasters.push(new Redis({ port: n.port, host: '127.0.0.1' }));
    }
    const masterPorts = (await slotMasters(cluster.nodes[0]!.port)).map((m) => m.port);
    for (const port of masterPorts) masters.push(new Redis({ port, host: '127.0.0.1' }));
    for (const n of cluster.nodes.filter((n) => !masterPorts.includes(n.port)))
      replicas.push(new Redis({ port: n.port, host: '127.0.0.1' }));
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const nodesOf = (label: string) => (label === 'single' ? [singleRedis] : label === 'lean' ? leanMasters : masters);
  /** What `d`'s Redis servers (replicas apart) and processes spent while `loop` ran `op`. */
  const measured = async (d: Deployment, op: Op, loop: (op: Op) => Promise<LoopRun>) => {
    const replicaNodes = d.label === 'cluster' ? replicas : [];
    const [before, replicasBefore] = await Promise.all([masterStats(nodesOf(d.label)), masterStats(replicaNodes)]);
    const [cpuBefore, kernelBefore] = [d.processCpuMs(), d.processKernel()];
    const run = await loop(op);
    const [cpuAfter, kernelAfter] = [d.processCpuMs(), d.processKernel()];
    const [after, replicasAfter] = await Promise.all([masterStats(nodesOf(d.label)), masterStats(replicaNodes)]);
    const replicasAdded = added(replicasBefore, replicasAfter);
    return {
      run,
      perNode: added(before, after),
      processCpuMs: cpuAfter - cpuBefore,
      processSyscalls: kernelAfter.syscalls - kernelBefore.syscalls,
      processSwitches: kernelAfter.switches - kernelBefore.switches,
      replicaCpuMs: replicasAdded.reduce((n, r) => n + r.cpuMs, 0),
      replicaSyscalls: replicasAdded.reduce((n, r) => n + r.syscalls, 0),
    };
  };
  try {
    for (const d of deployments) if (WARMUP_S > 0) await closedLoop(WARMUP_S, (w, i) => d.op(w, 10_000_000 + i));
    const acc = deployments.map(() => ({
      latencies: [] as number[],
      errors: 0,
      seconds: 0,
      processCpuMs: 0,
      perNode: [] as {
        commands: number;
        cpuMs: number;
        clusterCalls: number;
        connections: number;
        syscalls: number;
        switches: number;
      }[],
      byCommand: new Map<string, number>(),
      replicaCpuMs: 0,
      replicaSyscalls: 0,
      processSyscalls: 0,
      processSwitches: 0,
    }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, d] of deployments.entries()) {
        const m = await measured(
          d,
          (w, i) => d.op(w, round * 1_000_000 + i),
          (op) => closedLoop(SECONDS / ROUNDS, op),
        );
        const a = acc[k]!;
        const { run, perNode } = m;
        a.processCpuMs += m.processCpuMs;
        a.processSyscalls += m.processSyscalls;
        a.processSwitches += m.processSwitches;
        a.replicaCpuMs += m.replicaCpuMs;
        a.replicaSyscalls += m.replicaSyscalls;
        a.latencies.push(...run.latencies);
        a.errors += run.errors;
        a.seconds += run.seconds;
        perNode.forEach((s, n) => {
          const sum = (a.perNode[n] ??= {
            commands: 0,
            cpuMs: 0,
            clusterCalls: 0,
            connections: 0,
            syscalls: 0,
            switches: 0,
          });
          for (const k of ['commands', 'cpuMs', 'clusterCalls', 'connections', 'syscalls', 'switches'] as const)
            sum[k] += s[k];
          for (const [name, calls] of s.byCommand) a.byCommand.set(name, (a.byCommand.get(name) ?? 0) + calls);
        });
      }
    }
    const results = await Promise.all(
      deployments.map(async (d, k) => {
        const a = acc[k]!;
        const ops = a.latencies.length;
        const sorted = a.latencies.sort((x, y) => x - y);
        const keys = (await masterStats(nodesOf(d.label))).map((s) => s.keys);
        const commands = a.perNode.reduce((n, s) => n + s.commands, 0);
        return {
          label: d.label,
          perSecond: ops / a.seconds,
          p99: sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0,
          errors: a.errors,
          commandsPerPurchase: commands / ops,
          byCommandPerPurchase: Object.fromEntries([...a.byCommand].map(([name, calls]) => [name, calls / ops])),
          redisCpuMsPerPurchase: a.perNode.reduce((n, s) => n + s.cpuMs, 0) / ops,
          /** What the replicas spent applying the masters' writes, per purchase (in all). */
          replicaCpuMsPerPurchase: a.replicaCpuMs / ops,
          /** The gateway's and the workers' CPU per purchase. */
          systemCpuMsPerPurchase: a.processCpuMs / ops,
          redisSyscallsPerPurchase: a.perNode.reduce((n, s) => n + s.syscalls, 0) / ops,
          redisSwitchesPerPurchase: a.perNode.reduce((n, s) => n + s.switches, 0) / ops,
          replicaSyscallsPerPurchase: a.replicaSyscalls / ops,
          systemSyscallsPerPurchase: a.processSyscalls / ops,
          systemSwitchesPerPurchase: a.processSwitches / ops,
          masters: a.perNode.map((s, n) => ({
            commandShare: s.commands / commands,
            keyShare: keys[n]! / keys.reduce((x, y) => x + y, 0),
            cpuMsPerPurchase: s.cpuMs / ops,
            /** Cluster bookkeeping: CLUSTER SLOTS calls and new connections per second (slot-map refreshes open one each). */
            clusterSlotsPerSecond: s.clusterCalls / a.seconds,
            connectionsPerSecond: s.connections / a.seconds,
          })),
          wait: d.label === 'cluster' ? await waitCost(d.gateway) : undefined,
        };
      }),
    );
    const byLabel = (label: string) => results.find((r) => r.label === label)!;
    const [one, many] = [byLabel('single'), byLabel('cluster')];
    console.log(
      `scale-out: N=${N}, ${SECONDS}s each in ${ROUNDS} turns; cluster 3 masters × ${REPLICAS} replica(s), ${SHARDS} shards`,
    );
    for (const r of results) {
      console.log(
        `  ${r.label}: ${r.perSecond.toFixed(0)}/s, p99 ${r.p99.toFixed(0)} ms, errors ${r.errors}, Redis ${r.commandsPerPurchase.toFixed(1)} cmds and ${r.redisCpuMsPerPurchase.toFixed(2)} CPU ms per purchase${r.label === 'cluster' ? ` (replicas ${r.replicaCpuMsPerPurchase.toFixed(2)} more)` : ''}, gateway+workers ${r.systemCpuMsPerPurchase.toFixed(2)} CPU ms per purchase`,
      );
      console.log(
        `    system calls (read, write) per purchase: Redis ${r.redisSyscallsPerPurchase.toFixed(0)}${r.label === 'cluster' ? ` (replicas ${r.replicaSyscallsPerPurchase.toFixed(0)} more)` : ''}, gateway+workers ${r.systemSyscallsPerPurchase.toFixed(0)}; context switches per purchase: Redis ${r.redisSwitchesPerPurchase.toFixed(0)}, gateway+workers ${r.systemSwitchesPerPurchase.toFixed(0)}`,
      );
      r.masters.forEach((m, n) =>
        console.log(
          `    master ${n + 1}: ${(100 * m.commandShare).toFixed(1)} % of commands, ${(100 * m.keyShare).toFixed(1)} % of keys, ${m.cpuMsPerPurchase.toFixed(2)} CPU ms per purchase; ${m.clusterSlotsPerSecond.toFixed(1)} CLUSTER SLOTS/s, ${m.connectionsPerSecond.toFixed(1)} new connections/s`,
        ),
      );
    }
    // Where the cluster's extra commands per purchase come from, largest differences first.
    const names = new Set([...Object.keys(one.byCommandPerPurchase), ...Object.keys(many.byCommandPerPurchase)]);
    const diffs = [...names]
      .map((name) => ({ name, one: one.byCommandPerPurchase[name] ?? 0, many: many.byCommandPerPurchase[name] ?? 0 }))
      .sort((x, y) => Math.abs(y.many - y.one) - Math.abs(x.many - x.one))
      .slice(0, Number(process.env.BENCH_DIFFS ?? 8));
    console.log(
      `  commands per purchase, single → cluster: ${diffs.map((d) => `${d.name} ${d.one.toFixed(1)} → ${d.many.toFixed(1)}`).join(', ')}`,
    );
    const busiest = Math.max(...many.masters.map((m) => m.cpuMsPerPurchase));
    console.log(`  cluster/single throughput ${(many.perSecond / one.perSecond).toFixed(2)} (target ≥ 0.80)`);
    console.log(
      `  busiest master's CPU per purchase / single's ${(busiest / one.redisCpuMsPerPurchase).toFixed(2)} (target ≤ 0.50)`,
    );
    if (lean) {
      const thin = byLabel('lean');
      const thinBusiest = Math.max(...thin.masters.map((m) => m.cpuMsPerPurchase));
      console.log(
        `  lean cluster (3 masters, no replicas, a shard each)/single: throughput ${(thin.perSecond / one.perSecond).toFixed(2)}, busiest master's CPU per purchase ${(thinBusiest / one.redisCpuMsPerPurchase).toFixed(2)}`,
      );
    }
    console.log(
      `  smallest master share of commands ${(100 * Math.min(...many.masters.map((m) => m.commandShare))).toFixed(1)} % (target ≥ 20 %)`,
    );
    if (many.wait)
      console.log(
        `  WAIT 1 replica before each acknowledgement: mean ${many.wait.meanMs.toFixed(2)} ms over ${many.wait.count} purchases, ${many.wait.unreplicated} acknowledged unreplicated`,
      );
    // The same comparison at the same work per second: one server offered the cluster's rate. Redis and
    // the processes cost more per purchase at a lower rate (fewer commands per read, write and event-loop
    // turn), so a cluster master, which serves a third of a slower system, is also measured against that.
    const pacedLoopAt = (perSecond: number) => (op: Op) => pacedLoop(N, Math.max(SECONDS / ROUNDS, 5), perSecond, op);
    const paced = await measured(
      deployments[0]!,
      (w, i) => deployments[0]!.op(w, 20_000_000 + i),
      pacedLoopAt(many.perSecond),
    );
    const pacedOps = paced.run.latencies.length;
    const sameRate = {
      perSecond: pacedOps / paced.run.seconds,
      errors: paced.run.errors,
      commandsPerPurchase: paced.perNode[0]!.commands / pacedOps,
      redisCpuMsPerPurchase: paced.perNode[0]!.cpuMs / pacedOps,
      systemCpuMsPerPurchase: paced.processCpuMs / pacedOps,
      redisSyscallsPerPurchase: paced.perNode[0]!.syscalls / pacedOps,
      systemSyscallsPerPurchase: paced.processSyscalls / pacedOps,
    };
    console.log(
      `  single paced at the cluster's rate: ${sameRate.perSecond.toFixed(0)}/s, errors ${sameRate.errors}, Redis ${sameRate.commandsPerPurchase.toFixed(1)} cmds and ${sameRate.redisCpuMsPerPurchase.toFixed(2)} CPU ms per purchase, gateway+workers ${sameRate.systemCpuMsPerPurchase.toFixed(2)} CPU ms per purchase; system calls per purchase: Redis ${sameRate.redisSyscallsPerPurchase.toFixed(0)}, gateway+workers ${sameRate.systemSyscallsPerPurchase.toFixed(0)}`,
    );
    console.log(
      `  at the same purchases/s: busiest master's CPU per purchase / single's ${(busiest / sameRate.redisCpuMsPerPurchase).toFixed(2)}, cluster gateway+workers CPU per purchase / single's ${(many.systemCpuMsPerPurchase / sameRate.systemCpuMsPerPurchase).toFixed(2)}`,
    );
    // BENCH_RATES (e.g. 25,50,100): both offered each rate in turn, the whole cost per purchase side by side.
    const rates = (process.env.BENCH_RATES ?? '').split(',').filter(Boolean).map(Number);
    const sweep: {
      rate: number;
      label: string;
      errors: number;
      cpuMsPerPurchase: number;
      syscallsPerPurchase: number;
    }[] = [];
    for (const [r, rate] of rates.entries()) {
      const line = [];
      for (const d of deployments) {
        const m = await measured(d, (w, i) => d.op(w, 30_000_000 + r * 1_000_000 + i), pacedLoopAt(rate));
        const ops = m.run.latencies.length;
        const redisMs = m.perNode.reduce((n, s) => n + s.cpuMs, 0) + m.replicaCpuMs;
        const syscalls = m.perNode.reduce((n, s) => n + s.syscalls, 0) + m.replicaSyscalls + m.processSyscalls;
        const point = {
          rate,
          label: d.label,
          errors: m.run.errors,
          cpuMsPerPurchase: (redisMs + m.processCpuMs) / ops,
          syscallsPerPurchase: syscalls / ops,
        };
        sweep.push(point);
        line.push(
          `${d.label} ${(ops / m.run.seconds).toFixed(0)}/s, ${(redisMs / ops).toFixed(2)} Redis${d.label === 'cluster' ? ` (replicas ${(m.replicaCpuMs / ops).toFixed(2)})` : ''} + ${(m.processCpuMs / ops).toFixed(2)} gateway+workers = ${point.cpuMsPerPurchase.toFixed(2)} CPU ms and ${point.syscallsPerPurchase.toFixed(0)} system calls per purchase`,
        );
      }
      const at = sweep.filter((p) => p.rate === rate);
      const base = at.find((p) => p.label === 'single')!;
      const ratios = at
        .filter((p) => p !== base)
        .map((p) => `${p.label}/single CPU per purchase ${(p.cpuMsPerPurchase / base.cpuMsPerPurchase).toFixed(2)}`);
      console.log(`  offered ${rate}/s: ${line.join('; ')}; ${ratios.join(', ')}`);
    }
    // Inventory alone: the deployments above stop first, so this turn has the machine to itself.
    for (const d of deployments.splice(0)) await d.close();
    const inv = await deployment(
      'inventory',
      { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_SHARDS: SHARDS, REDIS_WAIT_REPLICAS: String(REPLICAS > 0 ? 1 : 0) },
      catalogFile,
      'binv',
    );
    deployments.push(inv);
    if (WARMUP_S > 0) await closedLoop(WARMUP_S, (w, i) => inv.op(w, 10_000_000 + i));
    const { run, perNode: perMaster } = await measured(
      inv,
      (w, i) => inv.op(w, i),
      (op) => closedLoop(SECONDS / ROUNDS, op),
    );
    const ops = run.latencies.length;
    const invMaster = masters.findIndex((m) => m.options.port === invPort);
    const allCommands = perMaster.reduce((n, m) => n + m.commands, 0);
    const inventory = {
      perSecond: ops / run.seconds,
      errors: run.errors,
      commandShare: perMaster[invMaster]!.commands / allCommands,
      commandsPerPurchase: perMaster[invMaster]!.commands / ops,
      cpuMsPerPurchase: perMaster[invMaster]!.cpuMs / ops,
    };
    console.log(
      `  inventory alone on a master (${SECONDS / ROUNDS}s, ${inventory.perSecond.toFixed(0)}/s, errors ${run.errors}): ${(100 * inventory.commandShare).toFixed(1)} % of the commands, ${inventory.commandsPerPurchase.toFixed(1)} commands and ${inventory.cpuMsPerPurchase.toFixed(3)} CPU ms per purchase (${((100 * inventory.cpuMsPerPurchase) / one.redisCpuMsPerPurchase).toFixed(1)} % of the single server's)`,
    );
    return [
      ...results,
      { label: 'single at the cluster rate', ...sameRate },
      { label: 'inventory', ...inventory },
      ...sweep,
    ];
  } finally {
    await cleanUp();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await clusterPhase();
  process.exit();
}
