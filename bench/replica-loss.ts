/**
 * Losing a replica, in npm run bench (also alone: `npx tsx bench/replica-loss.ts`): BENCH_N clients
 * doing full sync purchases on a production-shaped Redis Cluster (3 masters with a replica each)
 * and on a Sentinel-watched master with its replica, with the default WAIT settings. Each runs
 * BENCH_SECONDS / 2 with every replica up, then one replica is kill -9'd and left down and it runs
 * BENCH_SECONDS / 2 more: throughput after / before, and the errors, in the same run. Then one
 * redis-server and a cluster created without replicas (defaults: WAIT asks for one) take turns.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onNode, startTestCluster, type TestNode } from '../harness/redis-cluster.js';
import { startTestSentinel } from '../harness/redis-sentinel.js';
import { benchCatalog, deployment } from './cluster.js';
import { closedLoop, takingTurns } from './loops.js';
import { benchRedis } from './processes.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

type Deployed = Awaited<ReturnType<typeof deployment>>;

/** Purchases per second and errors of a closed loop of `seconds` on `d`. */
async function rate(d: Deployed, seconds: number, from: number) {
  const run = await closedLoop(N, seconds, (w, i) => d.op(w, from + i));
  return { perSecond: run.latencies.length / run.seconds, errors: run.errors };
}

/** Before and after `replica` is killed, on `d`. */
async function beforeAndAfter(label: string, d: Deployed, replica: TestNode) {
  if (WARMUP_S > 0) await closedLoop(N, WARMUP_S, (w, i) => d.op(w, 10_000_000 + i));
  const before = await rate(d, SECONDS / 2, 0);
  await replica.kill();
  const after = await rate(d, SECONDS / 2, 1_000_000);
  const result = { label, before: before.perSecond, after: after.perSecond, errors: before.errors + after.errors };
  console.log(
    `  ${label}: ${result.before.toFixed(0)}/s with its replicas, ${result.after.toFixed(0)}/s after one is lost: ${(result.after / result.before).toFixed(2)} (target ≥ 0.90), errors ${result.errors} (target 0)`,
  );
  return result;
}

export async function replicaLossPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-replica-'));
  const catalogFile = benchCatalog(dir);
  const results: { label: string; perSecond?: number; before?: number; after?: number; errors: number }[] = [];
  console.log(
    `replica loss: N=${N}, ${SECONDS / 2}s before and ${SECONDS / 2}s after a replica is kill -9'd, defaults`,
  );
  try {
    {
      const cluster = await startTestCluster({ masters: 3, replicas: 1 });
      const d = await deployment('rl-cluster', { REDIS_CLUSTER_NODES: cluster.seeds }, catalogFile);
      try {
        const roles = await Promise.all(
          cluster.nodes.map((n) => onNode(n.port, (r) => r.call('ROLE') as Promise<unknown[]>)),
        );
        results.push(
          await beforeAndAfter(
            'cluster 3 × 1',
            d,
            cluster.nodes.find((_, i) => roles[i]![0] === 'slave')!,
          ),
        );
      } finally {
        await d.close();
        await cluster.stop();
      }
    }
    {
      const sentinel = await startTestSentinel();
      const d = await deployment(
        'rl-sentinel',
        { REDIS_SENTINELS: sentinel.sentinels, REDIS_SENTINEL_NAME: sentinel.name },
        catalogFile,
      );
      try {
        const master = await sentinel.masterPort();
        results.push(
          await beforeAndAfter(
            'sentinel 1 + 1',
            d,
            sentinel.nodes.find((n) => n.port !== master)!,
          ),
        );
      } finally {
        await d.close();
        await sentinel.stop();
      }
    }
    {
      const single = await benchRedis(dir, 'single');
      const cluster = await startTestCluster({ masters: 3, replicas: 0 });
      const both = [
        await deployment('rl-single', { REDIS_URL: single.url }, catalogFile),
        await deployment('rl-lean', { REDIS_CLUSTER_NODES: cluster.seeds }, catalogFile),
      ];
      try {
        const [one, lean] = await takingTurns(
          N,
          both.map((d) => d.op),
          { seconds: SECONDS, rounds: ROUNDS, warmupS: WARMUP_S },
        );
        results.push({ label: 'single', ...one! }, { label: 'cluster 3 × 0, defaults', ...lean! });
        console.log(
          `  cluster without replicas, defaults: ${lean!.perSecond.toFixed(0)}/s against one server's ${one!.perSecond.toFixed(0)}/s: ${(lean!.perSecond / one!.perSecond).toFixed(2)} (target ≥ 0.65), errors ${lean!.errors} (target 0)`,
        );
      } finally {
        for (const d of both) await d.close();
        await cluster.stop();
        await single.stop();
      }
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await replicaLossPhase();
  process.exit();
}
