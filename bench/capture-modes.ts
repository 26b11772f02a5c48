/**
 * What capturing at the pivot costs, in npm run bench (also alone: `npx tsx bench/capture-modes.ts`):
 * BENCH_N clients doing full sync purchases on two deployments of the system on one redis-server,
 * one with PAYMENT_CAPTURE=pivot (authorize, then capture just before the order: one provider call
 * more) and one with PAYMENT_CAPTURE=immediate, in BENCH_ROUNDS turns of BENCH_SECONDS / rounds
 * each after a BENCH_WARMUP_S warm-up each. Target: pivot ≥ 0.90 × immediate's throughput.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchCatalog, deployment } from './cluster.js';
import { takingTurns } from './loops.js';
import { benchRedis } from './processes.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export async function captureModesPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-capture-'));
  const catalogFile = benchCatalog(dir);
  const server = await benchRedis(dir);
  const modes = ['pivot', 'immediate'] as const;
  const deployed = [];
  try {
    for (const mode of modes)
      deployed.push(
        await deployment(
          `capture-${mode}`,
          { REDIS_URL: server.url, KEY_PREFIX: `bcap${mode}`, PAYMENT_CAPTURE: mode },
          catalogFile,
        ),
      );
    const measured = await takingTurns(
      N,
      deployed.map((d) => d.op),
      { seconds: SECONDS, rounds: ROUNDS, warmupS: WARMUP_S },
    );
    const results = modes.map((mode, k) => ({ label: `PAYMENT_CAPTURE=${mode}`, ...measured[k]! }));
    const [pivot, immediate] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(`capture modes: N=${N}, ${SECONDS}s each in ${ROUNDS} turns, one redis-server`);
    for (const r of results)
      console.log(`  ${r.label}: ${r.perSecond.toFixed(0)}/s, p99 ${r.p99.toFixed(0)} ms, errors ${r.errors}`);
    console.log(`  pivot/immediate throughput ${(pivot.perSecond / immediate.perSecond).toFixed(2)} (target ≥ 0.90)`);
    return results;
  } finally {
    for (const d of deployed) await d.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await captureModesPhase();
  process.exit();
}
