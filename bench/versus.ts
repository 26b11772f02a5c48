/**
 * A change to the hot path, measured: `npm run bench:versus -- <git ref>` runs the system as it is in
 * this checkout and as it was at <ref> (main, a commit, HEAD~3), each as gateway+auth and workers
 * processes on one redis-server under a key prefix of its own, and takes turns of BENCH_N clients
 * doing full sync purchases on each (BENCH_ROUNDS rounds of BENCH_SECONDS / rounds each, after a
 * BENCH_WARMUP_S warm-up each), so a shared machine's drift falls on both sides. Prints each one's
 * throughput, p99, errors and gateway+workers CPU per purchase, and this checkout's throughput against <ref>'s.
 *
 * <ref> runs from a temporary git worktree on this checkout's node_modules: a ref whose dependencies
 * differ from today's may not start (its worktree is left for a look when it does not).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchCatalog, deployment } from './cluster.js';
import { takingTurns } from './loops.js';
import { benchRedis } from './processes.js';

const N = Number(process.env.BENCH_N ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const root = path.resolve(import.meta.dirname, '..');

const ref = process.argv[2];
if (!ref) {
  console.error('usage: npm run bench:versus -- <git ref>   (this checkout against the system at <ref>)');
  process.exit(2);
}
const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--short', `${ref}^{commit}`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-versus-'));
const then = path.join(dir, 'tree');
git('worktree', 'add', '--detach', then, commit);
symlinkSync(path.join(root, 'node_modules'), path.join(then, 'node_modules'));
const server = await benchRedis(dir);
const catalogFile = benchCatalog(dir);
const contenders = [
  { label: `at ${ref} (${commit})`, source: then, prefix: 'bthen' },
  { label: 'this checkout', source: root, prefix: 'bnow' },
];
const deployed = [];
try {
  for (const c of contenders)
    deployed.push(
      await deployment(c.prefix, { REDIS_URL: server.url, KEY_PREFIX: c.prefix }, catalogFile, { source: c.source }),
    );
  // CPU per purchase over the whole run, warm-ups included: the idle side's turns cost it next to nothing.
  const done = deployed.map(() => 0);
  const cpuBefore = deployed.map((d) => d.processCpuMs());
  const measured = await takingTurns(
    N,
    deployed.map((d, k) => async (w: number, i: number) => (await d.op(w, i)) && ++done[k]! > 0),
    { seconds: SECONDS, rounds: ROUNDS, warmupS: WARMUP_S },
  );
  const cpuPerPurchase = deployed.map((d, k) => (d.processCpuMs() - cpuBefore[k]!) / done[k]!);
  console.log(`versus: N=${N}, ${SECONDS}s each in ${ROUNDS} turns, one redis-server, sync purchases`);
  for (const [k, c] of contenders.entries()) {
    const m = measured[k]!;
    console.log(
      `  ${c.label}: ${m.perSecond.toFixed(0)}/s, p99 ${m.p99.toFixed(0)} ms, errors ${m.errors}, ` +
        `gateway+workers CPU ${cpuPerPurchase[k]!.toFixed(2)} ms/purchase`,
    );
  }
  console.log(`  this checkout / ${ref}: throughput ${(measured[1]!.perSecond / measured[0]!.perSecond).toFixed(2)}`);
} finally {
  for (const d of deployed) await d.close();
  await server.stop();
  git('worktree', 'remove', '--force', then);
  rmSync(dir, { recursive: true, force: true });
}
process.exit();
