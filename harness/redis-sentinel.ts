import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisStartError, redisPid } from '../src/local-redis.js';
import { freePort, onFreePorts } from './free-port.js';
import { eventually } from './eventually.js';
import { info, onNode, startNode, type TestNode } from './redis-cluster.js';

export const SENTINEL_NAME = 'purchases';

export interface TestSentinel {
  /** `host:port,…` of the sentinels, for REDIS_SENTINELS. */
  sentinels: string;
  name: string;
  nodes: TestNode[];
  /** The port the sentinels name as master now. */
  masterPort(): Promise<number>;
  /** The master's port as the sentinel at `index` alone names it (when another is frozen). */
  masterPortSaidBy(index: number): Promise<number>;
  /** Waits until the sentinels agree on a live master whose replicas are all synced. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  node(port: number): TestNode;
  /** Sends `signal` to the sentinel process at `index` (SIGSTOP freezes it: it accepts connections, answers nothing). */
  signalSentinel(index: number, signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

function startSentinelProcess(masterPort: number): Promise<{ port: number; child: ChildProcess; dir: string }> {
  return onFreePorts(
    () => startSentinelOn(masterPort),
    (e) => e instanceof RedisStartError,
  );
}

async function startSentinelOn(masterPort: number): Promise<{ port: number; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-sentinel-'));
  const port = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while ((await redisPid(port)) !== child.pid) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new RedisStartError(`redis-sentinel on port ${port} did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child, dir };
}

/**
 * One master, one replica and three sentinels (quorum 2) on free ports in temp dirs; the
 * sentinels call a master down after 1 s.
 */
export async function startTestSentinel(): Promise<TestSentinel> {
  const master = await startNode(
    () => ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'],
    'sentinel-master',
  );
  const replica = await startNode(
    () => [
      '--replicaof',
      '127.0.0.1',
      String(master.port),
      '--repl-diskless-sync',
      'yes',
      '--repl-diskless-sync-delay',
      '0',
    ],
    'sentinel-replica',
  );
  const sentinels = await Promise.all([0, 1, 2].map(() => startSentinelProcess(master.port)));
  const nodes = [master, replica];
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  const masterPortSaidBy = async (index: number) => {
    const [, port] = await onNode(
      sentinels[index]!.port,
      (r) => r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME) as Promise<[string, string]>,
    );
    return Number(port);
  };
  const masterPort = async () => {
    const ports = new Set(await Promise.all(sentinels.map((_, i) => masterPortSaidBy(i))));
    if (ports.size !== 1) throw new Error(`sentinels disagree on the master: ${[...ports].join(', ')}`);
    return [...ports][0]!;
  };
  const sentinel: TestSentinel = {
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    name: SENTINEL_NAME,
    nodes,
    masterPort,
    masterPortSaidBy,
    async waitHealthy(timeoutMs = 30_000) {
      await eventually(
        'a healthy sentinel group',
        async () => {
          const port = await masterPort();
          const m = byPort.get(port);
          if (!m?.alive()) return false;
          const role = await onNode(port, (r) => info(r, 'replication'));
          if (role.role !== 'master') return false;
          // Every live node other than the master is its replica, synced.
          for (const n of nodes.filter((x) => x.alive() && x.port !== port)) {
            const repl = await onNode(n.port, (r) => info(r, 'replication'));
            if (repl.role !== 'slave' || Number(repl.master_port) !== port || repl.master_link_status !== 'up')
              return false;
          }
          // The sentinels know the replica and the other sentinels (a failover needs both).
          const known = await onNode(
            sentinels[0]!.port,
            (r) => r.call('SENTINEL', 'master', SENTINEL_NAME) as Promise<string[]>,
          );
          const field = (f: string) => Number(known[known.indexOf(f) + 1]);
          return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
        },
        { timeout: timeoutMs, interval: 200 },
      );
    },
    node(port) {
      const n = byPort.get(port);
      if (!n) throw new Error(`no node on ${port}`);
      return n;
    },
    signalSentinel(index, signal) {
      sentinels[index]!.child.kill(signal);
    },
    async stop() {
      await Promise.all(
        sentinels.map(async (s) => {
          const exited = new Promise((r) => s.child.once('exit', r));
          s.child.kill('SIGKILL');
          await exited;
          rmSync(s.dir, { recursive: true, force: true });
        }),
      );
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  try {
    await sentinel.waitHealthy();
  } catch (err) {
    await sentinel.stop();
    throw err;
  }
  return sentinel;
}
