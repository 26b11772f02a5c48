/**
 * Units side by side, in npm run bench (also alone: `npx tsx bench/units.ts`): one customer buys
 * BENCH_UNITS units of a product whose partner answers each call after BENCH_PARTNER_MS, one purchase
 * at a time, BENCH_UNITS_RUNS times after BENCH_UNITS_WARMUP unmeasured ones, on a gateway+auth and a
 * workers process over one redis-server. Prints the sync purchase's latency and the most calls the
 * partner had in flight at once. Target: about one partner round trip per purchase, not one per unit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { benchRedis } from './processes.js';
import { deployment } from './cluster.js';

const UNITS = Number(process.env.BENCH_UNITS ?? 10);
const PARTNER_MS = Number(process.env.BENCH_PARTNER_MS ?? 300);
const RUNS = Number(process.env.BENCH_UNITS_RUNS ?? 10);
const WARMUP = Number(process.env.BENCH_UNITS_WARMUP ?? 2);

/** A partner that answers every call 200 after `latencyMs`, counting the calls it has in flight. */
async function slowPartner(latencyMs: number) {
  const state = { inFlight: 0, peak: 0, calls: 0 };
  const server = http.createServer((req, res) => {
    state.calls++;
    state.peak = Math.max(state.peak, ++state.inFlight);
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () =>
      setTimeout(() => {
        state.inFlight--;
        const body = JSON.parse(raw || '{}') as { provisionedId?: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ externalRef: `ext-${body.provisionedId}` }));
      }, latencyMs),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/provision`,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function unitsPhase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-bench-units-'));
  const partner = await slowPartner(PARTNER_MS);
  const catalogFile = path.join(dir, 'catalog.json');
  const product = { id: 'bench-units', name: 'Bench units', price: { amount: 100, currency: 'USD' } };
  writeFileSync(
    catalogFile,
    JSON.stringify({ products: [{ ...product, stock: 1_000_000_000, integration: { url: partner.url } }] }),
  );
  const server = await benchRedis(dir);
  let deployed: Awaited<ReturnType<typeof deployment>> | undefined;
  try {
    deployed = await deployment('units', { REDIS_URL: server.url, KEY_PREFIX: 'bunits' }, catalogFile, {
      items: [{ productId: product.id, quantity: UNITS }],
    });
    const d = deployed;
    let errors = 0;
    for (let i = 0; i < WARMUP; i++) if (!(await d.op(0, 10_000_000 + i))) errors++;
    Object.assign(partner.state, { peak: 0, calls: 0 });
    const latencies: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      if (await d.op(0, i)) latencies.push(performance.now() - started);
      else errors++;
    }
    const sorted = latencies.sort((a, b) => a - b);
    const result = {
      label: `${UNITS} units at a ${PARTNER_MS} ms partner`,
      purchases: sorted.length,
      p50: sorted[Math.floor(0.5 * (sorted.length - 1))] ?? 0,
      mean: sorted.reduce((t, x) => t + x, 0) / (sorted.length || 1),
      max: sorted.at(-1) ?? 0,
      partnerCalls: partner.state.calls,
      peakInFlight: partner.state.peak,
      errors,
    };
    console.log(`units: ${result.label}, one sync purchase at a time, ${RUNS} purchases after ${WARMUP} unmeasured`);
    console.log(
      `  purchase p50 ${result.p50.toFixed(0)} ms, mean ${result.mean.toFixed(0)} ms, max ${result.max.toFixed(0)} ms; ` +
        `partner: ${result.partnerCalls} calls, at most ${result.peakInFlight} in flight; errors ${errors}`,
    );
    return [result];
  } finally {
    await deployed?.close();
    await server.stop();
    await partner.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await unitsPhase();
  process.exit();
}
