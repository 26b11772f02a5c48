import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisStartError, startRedisServer } from '../src/local-redis.js';
import { eventually } from './eventually.js';
import { freePort, onFreePorts } from './free-port.js';

/** One redis-server of a test's own, killable and restartable on the same port from the same dir. */
export interface TestNode {
  port: number;
  dir: string;
  /** SIGKILL, as in a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port, from the same dir (AOF and, in a cluster, nodes.conf). */
  restart(): Promise<void>;
  alive(): boolean;
  /** Sends `signal` to the process (SIGSTOP freezes it: connections stay open, nothing is answered). */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** Starts redis-server with `args` on a free port in a temp dir: the single-server helper's conventions. */
export async function startNode(
  args: (port: number) => Promise<string[]> | string[],
  label: string,
): Promise<TestNode> {
  let [dir, port, extra] = ['', 0, [] as string[]];
  const start = () => startRedisServer({ dir, port, appendfsync: 'everysec', args: extra });
  let server = await onFreePorts(
    async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), `purchase-${label}-`));
      port = await freePort();
      extra = await args(port);
      return start().catch((e: unknown) => {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      });
    },
    (e) => e instanceof RedisStartError,
  );
  let up = true;
  return {
    port,
    dir,
    async kill() {
      if (!up) return;
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGKILL');
      await exited;
      up = false;
    },
    async restart() {
      server = await start();
      up = true;
    },
    alive: () => up,
    signal(signal) {
      server.child.kill(signal);
    },
    async stop() {
      if (up) await server.stop();
      up = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A short-lived admin connection to one node. */
export async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1_000,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export const info = (r: Redis, section: string) =>
  r.info(section).then((text) => Object.fromEntries(text.split('\r\n').map((l) => l.split(':') as [string, string])));

/** Masters of the slot map as one live node sees it: port → slot ranges. */
export async function slotMasters(port: number): Promise<{ port: number; ranges: [number, number][] }[]> {
  const slots = (await onNode(port, (r) => r.cluster('SLOTS'))) as unknown as [
    number,
    number,
    [string, number, string],
  ][];
  const byPort = new Map<number, [number, number][]>();
  for (const [from, to, [, masterPort]] of slots)
    byPort.set(masterPort, [...(byPort.get(masterPort) ?? []), [from, to]]);
  return [...byPort].map(([p, ranges]) => ({ port: p, ranges }));
}

/**
 * Places the slots of `tags` (hash tags) round-robin on the masters (or tag i on master `masterOf(i, n)`, masters by port), as an operator lays out a
 * cluster's shards (redis-cli --cluster reshard does the same with keys to move). The slots must
 * still be empty: ownership moves with CLUSTER SETSLOT … NODE alone. Resolves with the masters' ports
 * in the order `masterOf` numbers them.
 */
export async function placeTags(
  cluster: TestCluster,
  tags: string[],
  masterOf = (i: number, masters: number) => i % masters,
): Promise<number[]> {
  const any = cluster.nodes.find((n) => n.alive())!.port;
  const masters = (await slotMasters(any)).map((m) => m.port).sort((a, b) => a - b);
  const ids = new Map(
    await Promise.all(masters.map(async (p) => [p, (await onNode(p, (r) => r.cluster('MYID'))) as string] as const)),
  );
  for (const [i, tag] of tags.entries()) {
    const slot = (await onNode(any, (r) => r.cluster('KEYSLOT', `{${tag}}`))) as number;
    const target = masters[masterOf(i, masters.length)]!;
    const owner = await cluster.masterOfSlot(slot);
    if (owner === target) continue;
    // The target first, then the old owner, then the other masters (replicas learn it by gossip).
    const order = [target, owner, ...masters];
    for (const port of [...new Set(order)])
      await onNode(port, (r) => r.cluster('SETSLOT', slot, 'NODE', ids.get(target)!) as Promise<unknown>);
  }
  await cluster.waitHealthy(30_000);
  return masters;
}

export interface TestCluster {
  nodes: TestNode[];
  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  seeds: string;
  /** The port of the master serving `slot` now. */
  masterOfSlot(slot: number): Promise<number>;
  /** Waits until every slot is served by a live master that its live nodes agree on, every replica synced. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  node(port: number): TestNode;
  stop(): Promise<void>;
}

/**
 * A local Redis Cluster, 3 masters + 3 replicas, on free ports in temp dirs. A node timeout of
 * 2 s gives a failover in about 4 s; diskless sync with no delay lets a replica sync at once
 * (otherwise 5 s pass before a failover right after start can happen); full coverage is off, so
 * a dead master costs its own slots only.
 */
export async function startTestCluster(opts: { masters?: number; replicas?: number } = {}): Promise<TestCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const nodes = await Promise.all(
    Array.from({ length: masters * (1 + replicas) }, () =>
      startNode(
        async () => [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(await freePort()),
          '--cluster-node-timeout',
          '2000',
          '--cluster-require-full-coverage',
          'no',
          // A replica may take over however long it was cut off: the test kills masters under load.
          '--cluster-replica-validity-factor',
          '0',
          '--repl-diskless-sync',
          'yes',
          '--repl-diskless-sync-delay',
          '0',
        ],
        'cluster',
      ),
    ),
  );
  const create = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (create.status !== 0) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
  }
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  const live = () => nodes.filter((n) => n.alive());

  const healthy = async () => {
    for (const n of live()) {
      const state = (await onNode(n.port, (r) => r.cluster('INFO'))) as string;
      if (!/cluster_state:ok/.test(state) || !/cluster_slots_ok:16384/.test(state)) return false;
    }
    // Every slot on a live master, the same map on every live node.
    const maps = await Promise.all(live().map((n) => slotMasters(n.port)));
    const key = (m: Awaited<ReturnType<typeof slotMasters>>) => JSON.stringify(m.map((x) => [x.port, x.ranges]).sort());
    if (new Set(maps.map(key)).size !== 1) return false;
    if (!maps[0]!.every((m) => byPort.get(m.port)?.alive())) return false;
    // Every live replica synced with its master.
    for (const n of live()) {
      const repl = await onNode(n.port, (r) => info(r, 'replication'));
      if (repl.role === 'slave' && (repl.master_link_status !== 'up' || repl.master_sync_in_progress !== '0'))
        return false;
    }
    return true;
  };

  const cluster: TestCluster = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masterOfSlot(slot) {
      const map = await slotMasters(live()[0]!.port);
      return map.find((m) => m.ranges.some(([a, b]) => slot >= a && slot <= b))!.port;
    },
    async waitHealthy(timeoutMs = 30_000) {
      await eventually('a healthy cluster', healthy, { timeout: timeoutMs, interval: 200 });
    },
    node(port) {
      const n = byPort.get(port);
      if (!n) throw new Error(`no node on ${port}`);
      return n;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  try {
    await cluster.waitHealthy(30_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
