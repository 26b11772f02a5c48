/**
 * A load generator for profiling by hand: N clients in a closed loop against a running
 * gateway, sync or async, for S seconds; prints purchases/s and latency percentiles.
 *   GATEWAY_URL AUTH_URL [MODE=sync|async] [N=64] [SECONDS=10] npx tsx bench/load.ts
 * Start the system with e.g. `node --cpu-prof --import tsx src/main.ts` to profile it.
 */
import { httpClient } from './http-client.js';

const gateway = process.env.GATEWAY_URL ?? 'http://127.0.0.1:3000';
const auth = process.env.AUTH_URL ?? 'http://127.0.0.1:3001';
const mode = process.env.MODE ?? 'sync';
const n = Number(process.env.N ?? 64);
const seconds = Number(process.env.SECONDS ?? 10);
const productId = process.env.PRODUCT ?? 'basic-plan';

const tokens = await Promise.all(
  Array.from({ length: n }, async (_, i) => {
    const res = await fetch(`${auth}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: `load-${i}`, ttlSeconds: 3600 }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }),
);
const body = JSON.stringify({ items: [{ productId, quantity: 1 }], payment: { token: 'tok_visa' } });
const client = httpClient(n);
const expected = mode === 'async' ? 202 : 201;
const latencies: number[] = [];
const statuses = new Map<number, number>();
const until = performance.now() + seconds * 1000;
await Promise.all(
  tokens.map(async (token, w) => {
    for (let i = 0; performance.now() < until; i++) {
      const t = performance.now();
      const res = await client.post(
        `${gateway}/v1/purchases`,
        {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': `l-${w}-${i}-${Date.now()}`,
          ...(mode === 'async' ? { prefer: 'respond-async' } : {}),
        },
        body,
      );
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === expected) latencies.push(performance.now() - t);
    }
  }),
);
latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(1);
client.close();
console.log(
  `${mode}: ${(latencies.length / seconds).toFixed(0)}/s, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
);
