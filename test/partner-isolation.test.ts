import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import type { Customer } from './helpers/customer.js';
import { basicAuth } from './helpers/deployment.js';
import { startTestPartner, type TestPartner } from './helpers/partner.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/*
 * Contract §5.1, isolation: a partner that is down, slow or hanging does not slow purchases of products
 * served by other partners; its calls are bounded in number and time, fail fast once it keeps failing
 * (its purchases fail promptly, money first) and probe again later; its state shows in /metrics and
 * in the operator console.
 */

/** Partner A's own per-call timeout: a purchase of B's product must not wait behind it. */
const A_TIMEOUT_MS = 3_000;
/** Purchases (jobs) with calls under way at one partner, per workers process. */
const PLACES = 2;
/** Fewer provisioning workers than A's purchases: without places, A's hanging calls would hold them all. */
const WORKERS = 4;
const HALF_OPEN_MS = 6_000;

const product = (id: string, integration: Product['integration']): Product => ({
  id,
  name: id,
  price: { amount: 700, currency: 'USD' },
  stock: 1_000,
  dependencies: [],
  integration,
});

/** One sample of a metric with these labels in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && want.every((w) => l.slice(0, l.indexOf('}')).includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('Feature: one partner at a time (isolation per partner)', () => {
  let sys: TestSystem;
  let a: TestPartner;
  let b: TestPartner;
  /** A partner whose answers are 4xx: its word, not an outage. */
  let picky: TestPartner;

  beforeAll(async () => {
    [a, b, picky] = await Promise.all([
      startTestPartner({ secret: null }),
      startTestPartner({ secret: null }),
      startTestPartner({ secret: null, behaviour: { status: 422 } }),
    ]);
    sys = await startTestSystem({
      catalog: [
        ...testCatalog(),
        product('a-app', { url: a.url, timeoutMs: A_TIMEOUT_MS }),
        product('b-app', { url: b.url }),
        product('picky-app', { url: picky.url }),
      ],
      env: {
        WORKER_CONCURRENCY: String(WORKERS),
        PARTNER_CONCURRENCY: String(PLACES),
        PARTNER_BREAKER_FAILURES: '2',
        PARTNER_BREAKER_HALF_OPEN_MS: String(HALF_OPEN_MS),
      },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await Promise.all([a?.stop(), b?.stop(), picky?.stop()]);
  });

  const origin = (p: TestPartner) => new URL(p.url).origin;
  const metrics = async () => (await fetch(`${sys.gatewayUrl}/metrics`)).text();
  const circuit = async (p: TestPartner) => sample(await metrics(), 'partner_breaker_state', { partner: origin(p) });
  /** The console's Partners table row of partner `p`, as text. */
  async function consoleRow(p: TestPartner): Promise<string> {
    const res = await fetch(`${sys.gatewayUrl}/admin/console/partners`, { headers: { authorization: basicAuth() } });
    expect(res.status).toBe(200);
    const row = (await res.text()).split('<tr>').find((r) => r.includes(`<td>${origin(p)}</td>`)) ?? '';
    return row.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
  }
  const callsOf = (p: TestPartner, purchaseId: string) => p.calls.filter((c) => c.body?.purchaseId === purchaseId);
  const failedWithMoneyBack = (customer: Customer, id: string) =>
    vi.waitFor(
      async () =>
        expect(await customer.purchaseState(id)).toMatchObject({
          status: 'failed',
          error: { code: 'purchase_failed' },
          payment: { status: 'voided' },
        }),
      { timeout: 20_000, interval: 100 },
    );

  it(
    "a hanging partner: other partners' purchases complete, its own fail fast once its circuit opens, a probe closes it",
    { timeout: 90_000 },
    async () => {
      a.set('hang');
      const buyers = await Promise.all(Array.from({ length: WORKERS }, () => sys.customer()));
      const aIds = await Promise.all(
        buyers.map(async (c) => {
          const res = await c.buy('a-app', 1, undefined, { async: true });
          expect(res.status).toBe(202);
          return res.body.id as string;
        }),
      );
      // Every purchase of A's product is either calling A (its call hangs) or already failed: its calls
      // are bounded in number, and the ones past the bound were refused without reaching A.
      await vi.waitFor(
        async () => {
          for (const [i, id] of aIds.entries())
            if (callsOf(a, id).length === 0) expect((await buyers[i]!.purchaseState(id)).status).toBe('failed');
        },
        { timeout: 20_000, interval: 50 },
      );
      const hanging = a.calls.filter((c) => c.status === undefined);
      expect(hanging.length).toBeGreaterThan(0);
      expect(hanging.length).toBeLessThanOrEqual(PLACES);

      // Meanwhile B's product sells as usual, long before A's calls time out.
      const customer = await sys.customer();
      const res = await customer.buy('b-app');
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'completed', payment: { status: 'captured' } });
      expect(Date.parse(res.body.updatedAt)).toBeLessThan(Math.min(...hanging.map((c) => c.at)) + A_TIMEOUT_MS);
      expect(callsOf(b, res.body.id).map((c) => c.status)).toEqual([200]);

      // A's calls time out, its circuit opens: every purchase of A's product fails, its money voided.
      await vi.waitFor(async () => expect(await circuit(a)).toBe(1), { timeout: 20_000, interval: 100 });
      for (const [i, id] of aIds.entries()) await failedWithMoneyBack(buyers[i]!, id);
      expect(await circuit(b)).toBe(0);

      // While it is open a purchase of A's product is refused without calling A, and fails at once.
      const reached = a.calls.length;
      const late = await customer.buy('a-app');
      expect(late.status).toBe(502);
      expect(late.body.code).toBe('purchase_failed');
      await failedWithMoneyBack(customer, late.body.purchaseId);
      expect(callsOf(a, late.body.purchaseId)).toEqual([]);
      expect(a.calls.length).toBe(reached);
      const text = await metrics();
      expect(sample(text, 'partner_calls_total', { partner: origin(a), outcome: 'rejected-open' })).toBeGreaterThan(0);
      expect(sample(text, 'partner_calls_total', { partner: origin(a), outcome: 'timeout' })).toBeGreaterThan(0);
      expect(sample(text, 'partner_call_duration_seconds_count', { partner: origin(b), outcome: 'ok' })).toBe(1);
      expect(sample(text, 'partner_calls_in_flight', { partner: origin(b) })).toBe(0);
      // The operator sees it in the console: open, since when, its recent failures and why.
      await vi.waitFor(
        async () => expect(await consoleRow(a)).toMatch(/ open \d{4}-\d\d-\d\dT\S+ [1-9]\d* .*timed out after/),
        { timeout: 10_000, interval: 100 },
      );
      expect(await consoleRow(b)).toMatch(/ closed \S+ 0 /);

      // A answers again: once the circuit half-opens, a probe goes through and closes it.
      a.set('ok');
      const comeback = await sys.customer();
      const done = await vi.waitFor(
        async () => {
          const r = await comeback.buy('a-app');
          expect(r.status).toBe(201);
          return r.body;
        },
        { timeout: HALF_OPEN_MS + 20_000, interval: 500 },
      );
      expect(done).toMatchObject({ status: 'completed', payment: { status: 'captured' } });
      expect(callsOf(a, done.id).map((c) => c.status)).toEqual([200]);
      expect(await circuit(a)).toBe(0);
      await vi.waitFor(async () => expect(await consoleRow(a)).toMatch(/ closed /), { timeout: 10_000 });
    },
  );

  it("a partner's 4xx answers fail its purchases but never open its circuit: it is up and answering", async () => {
    const customer = await sys.customer();
    for (let i = 0; i < 2; i++) {
      const res = await customer.buy('picky-app');
      expect(res.status).toBe(502);
      await failedWithMoneyBack(customer, res.body.purchaseId);
      // Every attempt reached the partner.
      expect(callsOf(picky, res.body.purchaseId).filter((c) => c.body.event === 'provision')).toHaveLength(
        sys.config.STEP_ATTEMPTS,
      );
    }
    expect(await circuit(picky)).toBe(0);
    expect(
      sample(await metrics(), 'partner_calls_total', { partner: origin(picky), outcome: 'refused' }),
    ).toBeGreaterThan(2);
  });
});

/*
 * A purchase that fails after its partner provisioned a unit undoes it there. When that partner is down
 * for longer than the undo's retries last, the calls its open circuit refuses (never sent) spend no
 * attempt: the undo waits for the circuit's probe, holding no worker, and the unit is removed once the
 * partner is back, with no purchase put in review. The money was given back first all along.
 */
describe('Feature: undos wait out a partner outage', () => {
  const PROBE_MS = 1_500;
  let sys: TestSystem;
  let partner: TestPartner;
  beforeAll(async () => {
    partner = await startTestPartner({ secret: null });
    sys = await startTestSystem({
      catalog: [...testCatalog(), product('p-app', { url: partner.url })],
      env: {
        PARTNER_BREAKER_FAILURES: '1',
        PARTNER_BREAKER_HALF_OPEN_MS: String(PROBE_MS),
        // Without waiting, three quick attempts would be spent on refusals long before the partner is back.
        COMPENSATION_ATTEMPTS: '3',
        STEP_BACKOFF_MS: '100',
      },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await partner?.stop();
  });

  it('a deprovision refused by the open circuit spends no attempt: done once the partner is back, no review', async () => {
    const buyers = await Promise.all(Array.from({ length: 4 }, () => sys.customer()));
    // Each purchase fails at the pivot (three attempts each), after its unit was provisioned at the partner.
    expect((await sys.admin('POST', '/admin/faults', { point: 'order.place', times: 12 })).status).toBe(201);
    partner.set('fail', { event: 'deprovision' });
    const ids = await Promise.all(
      buyers.map(async (c) => {
        const res = await c.buy('p-app');
        expect(res.status).toBe(502);
        // Money first: the hold is voided whatever the partner does.
        expect((await c.purchaseState(res.body.purchaseId)).payment.status).toBe('voided');
        return res.body.purchaseId as string;
      }),
    );
    // Down for several probes' worth, while the undos are refused.
    await new Promise((r) => setTimeout(r, 2 * PROBE_MS + 500));
    partner.set('ok', { event: 'deprovision' });
    for (const [i, id] of ids.entries())
      await vi.waitFor(
        async () => {
          const view = await buyers[i]!.purchaseState(id);
          expect(view.steps.find((s: any) => s.name === 'provisioning').status).toBe('compensated');
          expect(view.review).toBeUndefined();
          expect((await buyers[i]!.provisioned()).map((u) => u.status)).toEqual(['deprovisioned']);
        },
        { timeout: 4 * PROBE_MS + 10_000, interval: 100 },
      );
    const refused = sample(await (await fetch(`${sys.gatewayUrl}/metrics`)).text(), 'partner_calls_total', {
      partner: new URL(partner.url).origin,
      event: 'deprovision',
      outcome: 'rejected-open',
    });
    expect(refused).toBeGreaterThan(0);
    await sys.admin('DELETE', '/admin/faults');
  }, 60_000);
});
