/**
 * One partner hanging, in npm run bench (also alone: `npx tsx bench/isolation.ts`): products A and B,
 * each served by a partner of its own that answers after BENCH_ISOLATION_PARTNER_MS (20), on one deployment
 * (gateway+auth and workers over one redis-server) with default settings. BENCH_ISOLATION_N clients
 * (16) buy B with full sync purchases while as many others keep buying A, in turns: partner A healthy,
 * then partner A hanging (it never answers), BENCH_ROUNDS rounds (3) of BENCH_ISOLATION_SECONDS / rounds
 * (30) per condition, after a BENCH_WARMUP_S (3) warm-up. A healthy turn is measured once A's circuit
 * closed again (the workers' /metrics). Prints B's throughput and p99 per condition, and their ratio:
 * target, B's p99 with A hanging ≤ 1.5 × with A healthy. Also what A's buyers got and A's calls.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/free-port.js';
import { deployment } from './cluster.js';
import { closedLoop, type LoopRun } from './loops.js';
import { waitHttp, benchRedis } from './processes.js';

// deployment() logs in BENCH_N customers: B's buyers and A's are two halves of them.
const CLIENTS = Math.min(
  Number(process.env.BENCH_ISOLATION_N ?? 16),
  Math.floor(Number(process.env.BENCH_N ?? 64) / 2),
);
const PARTNER_MS = Number(process.env.BENCH_ISOLATION_PARTNER_MS ?? 20);
const SECONDS = Number(process.env.BENCH_ISOLATION_SECONDS ?? 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const PREFIX = 'biso';

/** A partner that answers 200 after `latencyMs`, or, told to hang, holds every call it gets unanswered. */
async function partner(latencyMs: number) {
  const state = { hang: false, calls: 0 };
  const held = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    state.calls++;
    req.resume();
    req.on('end', () => {
      if (state.hang) return void held.add(res);
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), latencyMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/provision`,
    state,
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const stats = (run: LoopRun) => {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))] ?? 0;
  return { perSecond: sorted.length / run.seconds, p50: at(0.5), p99: at(0.99), errors: run.errors };
};

export async function isolationPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-isolation-'));
  const [a, b] = await Promise.all([partner(PARTNER_MS), partner(PARTNER_MS)]);
  const catalogFile = path.join(dir, 'catalog.json');
  const product = (id: string, url: string) => ({
    id,
    name: id,
    price: { amount: 100, currency: 'USD' },
    stock: 1_000_000_000,
    integration: { url },
  });
  writeFileSync(catalogFile, JSON.stringify({ products: [product('bench-a', a.url), product('bench-b', b.url)] }));
  const server = await benchRedis(dir);
  const metricsPort = await freePort();
  let d: Awaited<ReturnType<typeof deployment>> | undefined;
  let stopBuyingA = true;
  const buyingA: Promise<void>[] = [];
  try {
    // The workers process serves its own /metrics there: the partners' circuits.
    d = await deployment(
      'isolation',
      { REDIS_URL: server.url, KEY_PREFIX: PREFIX, METRICS_PORT: String(metricsPort) },
      catalogFile,
    );
    const deployed = d;
    const workersMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
    await waitHttp(workersMetrics);
    const buy = async (productId: string, w: number, i: number) =>
      (
        await deployed.post(
          w,
          '/v1/purchases',
          { items: [{ productId, quantity: 1 }], payment: { token: 'tok_visa' } },
          { 'idempotency-key': `${productId}-${w}-${i}-${Date.now()}` },
        )
      ).status;
    const buyB = async (w: number, i: number) => (await buy('bench-b', w, i)) === 201;
    // A's buyers are clients CLIENTS…2·CLIENTS-1, buying all along; what they got is tallied per condition.
    const aGot = { completed: 0, failed: 0 };
    stopBuyingA = false;
    for (let w = CLIENTS; w < 2 * CLIENTS; w++)
      buyingA.push(
        (async () => {
          for (let i = 0; !stopBuyingA; i++) {
            const status = await buy('bench-a', w, i).catch(() => 0);
            if (status === 201) aGot.completed++;
            else aGot.failed++;
          }
        })(),
      );
    const aCircuit = async () => {
      const text = await (await fetch(workersMetrics)).text();
      return Number(
        new RegExp(`^partner_breaker_state\\{partner="${new URL(a.url).origin}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
      );
    };

    const conditions = { healthy: [] as LoopRun[], hanging: [] as LoopRun[] };
    const tallies = { healthy: { completed: 0, failed: 0, calls: 0 }, hanging: { completed: 0, failed: 0, calls: 0 } };
    const turn = async (condition: 'healthy' | 'hanging', seconds: number, round: number) => {
      a.state.hang = condition === 'hanging';
      // Healthy means every partner answering and every circuit closed: A's buyers' calls probe it shut.
      const deadline = Date.now() + 60_000;
      while (condition === 'healthy' && (await aCircuit()) !== 0) {
        if (Date.now() > deadline) throw new Error("partner A's circuit stayed open for a minute while A answered");
        await new Promise((r) => setTimeout(r, 100));
      }
      const before = { ...aGot, calls: a.state.calls };
      const run = await closedLoop(CLIENTS, seconds, (w, i) => buyB(w, round * 1_000_000 + i));
      const tally = tallies[condition];
      tally.completed += aGot.completed - before.completed;
      tally.failed += aGot.failed - before.failed;
      tally.calls += a.state.calls - before.calls;
      return run;
    };
    if (WARMUP_S > 0) await turn('healthy', WARMUP_S, 99);
    for (let round = 0; round < ROUNDS; round++) {
      conditions.healthy.push(await turn('healthy', SECONDS / ROUNDS, 2 * round));
      conditions.hanging.push(await turn('hanging', SECONDS / ROUNDS, 2 * round + 1));
    }
    a.state.hang = false;
    stopBuyingA = true;
    await Promise.all(buyingA);

    const merged = (runs: LoopRun[]): LoopRun => ({
      latencies: runs.flatMap((r) => r.latencies),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      seconds: runs.reduce((n, r) => n + r.seconds, 0),
    });
    const healthy = stats(merged(conditions.healthy));
    const hanging = stats(merged(conditions.hanging));
    const ratio = hanging.p99 / healthy.p99;
    const partnerCounts = (await (await fetch(workersMetrics)).text())
      .split('\n')
      .filter((l) => l.startsWith('partner_calls_total{'));
    console.log(
      `isolation: ${CLIENTS} clients buying B and ${CLIENTS} buying A, each product at a ${PARTNER_MS} ms partner, ` +
        `default settings, ${ROUNDS} rounds of ${(SECONDS / ROUNDS).toFixed(0)} s per condition after a ${WARMUP_S} s warm-up`,
    );
    for (const [label, s, t] of [
      ['A healthy', healthy, tallies.healthy],
      ['A hanging', hanging, tallies.hanging],
    ] as const)
      console.log(
        `  ${label}: B ${s.perSecond.toFixed(0)}/s, p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, errors ${s.errors}; ` +
          `A's buyers: ${t.completed} completed, ${t.failed} failed; A got ${t.calls} calls`,
      );
    console.log(`  B's p99 with A hanging / with A healthy: ${ratio.toFixed(2)} (target ≤ 1.5)`);
    for (const line of partnerCounts) console.log(`  ${line}`);
    return [
      { label: "B's purchases, every partner healthy", ...healthy },
      { label: "B's purchases, partner A hanging", ...hanging, ratio },
    ];
  } finally {
    a.state.hang = false;
    stopBuyingA = true;
    await Promise.all(buyingA);
    await d?.close();
    await server.stop();
    await Promise.all([a.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await isolationPhase();
  process.exit();
}
