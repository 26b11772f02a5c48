import { Queue } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import { settleJobId, undoJobId } from '../src/ids.js';
import { QUEUES } from '../src/queues/contract.js';
import { stageOf as stageOfStep, STEP_NAMES, stepNamed, UNDOABLE, type StepName } from '../src/saga/saga.js';
import type { Customer } from './helpers/customer.js';
import type { Deployment } from './helpers/deployment.js';
import { postPurchase, providerPaymentOf } from './helpers/gateway.js';
import { startProcesses, type ProcessDeployment } from './helpers/processes.js';
import { createApiClient, listAll } from '../client/index.js';
import { inParallel } from '../harness/in-parallel.js';

/*
 * The chaos suite: real processes (gateway, workers), a real redis-server, real
 * kill -9. Each scenario ends with faults off → settle → the audit finds zero
 * violations, and enough purchases succeeded that a broken system cannot pass.
 * Figures are printed as `CHAOS <scenario> {...}` lines.
 */

const CATALOG: Product[] = [
  { id: 'widget', name: 'Widget', price: { amount: 250, currency: 'USD' }, stock: 100_000, dependencies: [] },
  { id: 'server', name: 'Server', price: { amount: 4000, currency: 'USD' }, stock: 100_000, dependencies: ['ip'] },
  { id: 'ip', name: 'IP address', price: { amount: 100, currency: 'USD' }, stock: 100_000, dependencies: [] },
];

const stageOf = (step: StepName) => stageOfStep(stepNamed(step)!).name;
const report = (scenario: string, figures: Record<string, unknown>) =>
  console.log(`CHAOS ${scenario} ${JSON.stringify(figures)}`);

/** `n` customers logged in as `${prefix}-0`…; the load posts with their tokens, unchecked (cheap under load). */
const customersOf = (d: Deployment, prefix: string, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => d.customer(`${prefix}-${i}`)));
const post = (d: Deployment, customer: Customer, body: unknown, headers: Record<string, string> = {}) =>
  postPurchase(d.gatewayUrl, `Bearer ${customer.token}`, body, headers);

const statusesOf = async (c: Deployment, ids: string[]) => {
  const byStatus: Record<string, number> = {};
  for (const id of ids) {
    const record = await c.stores.purchases.get(id);
    const key = record?.status ?? 'missing';
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }
  return byStatus;
};

/** A supervisor, as systemd or Kubernetes would be: restarts crashed workers until the purchase is terminal. Returns the crashes. */
async function superviseUntilDone(c: ProcessDeployment, id: string, ms: number): Promise<number> {
  let crashes = 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const record = await c.stores.purchases.get(id);
    if (record?.phase === 'done') break;
    if (c.workers.every((w) => w.child.exitCode !== null || w.child.signalCode !== null)) {
      crashes++;
      c.workers.length = 0;
      await c.addWorkers();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return crashes;
}

let deployment: ProcessDeployment | undefined;
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});

describe('chaos', () => {
  it('500 purchases while a workers process is kill -9ed three times: nothing stuck, nothing charged twice, stock conserved', async () => {
    const c = (deployment = await startProcesses({ catalog: CATALOG, workers: 2 }));
    const customers = await customersOf(c, 'kill', 20);
    const total = 500;
    const kills = [100, 250, 400];
    let killed = 0;
    let replacing: Promise<unknown> = Promise.resolve();
    const started = Date.now();
    const results = await inParallel(total, 20, async (i) => {
      if (kills.includes(i)) {
        // Kill the oldest workers process mid-load and start a replacement.
        // The previous replacement must be up before the next kill, or no worker would be left.
        await replacing;
        const victim = c.workers.shift()!;
        await victim.kill9();
        killed++;
        replacing = c.addWorkers();
      }
      const body =
        i % 3 === 0
          ? { items: [{ productId: 'server', quantity: 1 }], payment: { token: 'tok_visa' } }
          : { items: [{ productId: 'widget', quantity: 2 }], payment: { token: 'tok_visa' } };
      const res = await post(c, customers[i % customers.length]!, body, {
        prefer: 'respond-async',
        'idempotency-key': `k-${i}`,
      });
      return { status: res.status, id: (res.body as { id?: string } | undefined)?.id };
    });
    await replacing;
    const accepted = results.filter((r) => r.status === 202).map((r) => r.id!);
    const audit = await c.settle(90_000);
    const byStatus = await statusesOf(c, accepted);

    // exactly one confirmation per completed purchase
    const confirmations = new Map<string, number>();
    for (const customer of customers) {
      // Every page of the list (25 purchases a customer make more notifications than one page holds).
      const api = createApiClient(c.gatewayUrl, customer.token);
      const notes = await listAll((cursor) =>
        api.GET('/v1/notifications', { params: { query: { limit: 100, cursor } } }),
      );
      for (const n of notes)
        if (n.type === 'order_confirmation')
          confirmations.set(n.purchaseId, (confirmations.get(n.purchaseId) ?? 0) + 1);
    }
    report('kill-workers', {
      purchases: total,
      accepted: accepted.length,
      kills: killed,
      byStatus,
      seconds: (Date.now() - started) / 1000,
      violations: audit.violations.length,
      figures: audit.figures,
    });

    expect(killed).toBe(3);
    expect(accepted.length).toBe(total);
    expect(audit.violations).toEqual([]);
    expect(byStatus.missing ?? 0).toBe(0);
    expect(byStatus.completed ?? 0).toBeGreaterThanOrEqual(total * 0.9);
    expect([...confirmations.values()].every((n) => n === 1)).toBe(true);
    expect(confirmations.size).toBe(byStatus.completed);
  }, 150_000);

  it('no oversell: hundreds of concurrent buyers for tiny stock, with a worker crash in the middle', async () => {
    const tiny: Product[] = ['a', 'b', 'c'].map((id) => ({
      id: `tiny-${id}`,
      name: id,
      price: { amount: 100, currency: 'USD' },
      stock: 5,
      dependencies: [],
    }));
    const c = (deployment = await startProcesses({ catalog: tiny, workers: 2 }));
    const customers = await customersOf(c, 'buyer', 50);
    const results = await inParallel(300, 60, async (i) => {
      if (i === 120) {
        await c.workers.shift()!.kill9();
        await c.addWorkers();
      }
      const res = await post(c, customers[i % customers.length]!, {
        items: [{ productId: `tiny-${'abc'[i % 3]}`, quantity: 1 }],
        payment: { token: 'tok_visa' },
      });
      return res.status;
    });
    const audit = await c.settle(60_000);
    const stock = await Promise.all(tiny.map((p) => c.stores.catalog.stock(p.id)));
    const created = results.filter((s) => s === 201).length;
    report('no-oversell', {
      buyers: results.length,
      created,
      outOfStock: results.filter((s) => s === 409).length,
      other: results.filter((s) => s !== 201 && s !== 409).length,
      stock,
      violations: audit.violations.length,
    });

    expect(audit.violations).toEqual([]);
    for (const s of stock) {
      expect(s.available).toBeGreaterThanOrEqual(0);
      expect(s.sold).toBeLessThanOrEqual(5);
      expect(s.available + s.reserved + s.sold).toBe(5);
    }
    // every unit sold was sold to exactly one 201 (sync purchases answered after the crash may be 202 and complete later)
    const sold = stock.reduce((sum, s) => sum + s.sold, 0);
    expect(created).toBeLessThanOrEqual(sold);
    expect(sold).toBeGreaterThanOrEqual(12);
    expect(results.filter((s) => s >= 500 && s !== 502 && s !== 503)).toEqual([]);
  }, 120_000);

  it('a poison step that crashes its worker every time: after the stall limit the purchase is compensated, no parent left waiting', async () => {
    const c = (deployment = await startProcesses({ catalog: CATALOG, workers: 1 }));
    const customer = await c.customer('poison');
    const before = await c.stores.catalog.stock('widget');
    // Every provisioning attempt kills the process running it.
    expect((await c.admin('POST', '/admin/faults', { point: 'provision', times: 100, mode: 'crash' })).status).toBe(
      201,
    );
    const res = await post(
      c,
      customer,
      { items: [{ productId: 'widget', quantity: 1 }], payment: { token: 'tok_visa' } },
      { prefer: 'respond-async' },
    );
    expect(res.status).toBe(202);
    const id = (res.body as { id: string }).id;

    const crashes = await superviseUntilDone(c, id, 60_000);
    await c.admin('DELETE', '/admin/faults');
    const audit = await c.settle(30_000);
    const record = (await c.stores.purchases.get(id))!;
    const waitingChildren = await Promise.all(
      Object.values(QUEUES).map((q) =>
        new Queue(q, { connection: c.redis, prefix: c.stores.keys.queuePrefix(0) }).getWaitingChildrenCount(),
      ),
    );
    report('poison-step', {
      crashes,
      status: record.status,
      steps: record.steps,
      payment: record.payment.status,
      violations: audit.violations.length,
    });

    expect(crashes).toBeGreaterThanOrEqual(2);
    expect(record.status).toBe('failed');
    expect(record.error?.code).toBe('purchase_failed');
    // the step that crashed is the one blamed, so its own undo is planned
    expect(record.error?.step).toBe('provisioning');
    expect(record.steps.provisioning).toBe('failed');
    expect(record.payment.status).toBe('voided');
    expect(record.steps.payment).toBe('compensated');
    expect(waitingChildren.reduce((a, b) => a + b, 0)).toBe(0);
    expect(await c.stores.catalog.stock('widget')).toEqual(before);
    expect(audit.violations).toEqual([]);
  }, 120_000);

  it('a crash inside a stage after one of its steps completed: the job resumes at the next step, charging once', async () => {
    const c = (deployment = await startProcesses({ catalog: CATALOG, workers: 1 }));
    const customer = await c.customer('mid-stage');
    const before = await c.stores.catalog.stock('widget');
    // payment and inventory_update share the `charge` job: the process dies after the charge, before the commit.
    expect(stageOf('payment')).toBe(stageOf('inventory_update'));
    expect(
      (await c.admin('POST', '/admin/faults', { point: 'inventory.commit', times: 1, mode: 'crash' })).status,
    ).toBe(201);
    const res = await post(
      c,
      customer,
      { items: [{ productId: 'widget', quantity: 1 }], payment: { token: 'tok_visa' } },
      { prefer: 'respond-async' },
    );
    expect(res.status).toBe(202);
    const id = (res.body as { id: string }).id;

    const crashes = await superviseUntilDone(c, id, 60_000);
    const audit = await c.settle(30_000);
    const record = (await c.stores.purchases.get(id))!;
    const ledger = await providerPaymentOf(c, id);
    report('mid-stage-crash', {
      crashes,
      status: record.status,
      steps: record.steps,
      payment: record.payment.status,
      violations: audit.violations.length,
    });

    expect(crashes).toBe(1);
    expect(record.status).toBe('completed');
    expect(Object.values(record.steps).every((s) => s === 'completed')).toBe(true);
    expect(record.payment.status).toBe('captured');
    // the provider's one capture is the one the purchase recorded
    expect(ledger).toMatchObject({ state: 'captured', id: record.payment.paymentId, amount: 250, captured: 250 });
    expect(await c.stores.catalog.stock('widget')).toEqual({
      ...before,
      available: before.available - 1,
      sold: before.sold + 1,
    });
    // charges against orders and refunds: one capture for the one order
    expect(audit.violations).toEqual([]);
  }, 120_000);

  it('redis-server kill -9 mid-load, restarted from its AOF: acknowledged purchases finish, the gateway answers 503 fast meanwhile, workers resume by themselves', async () => {
    const c = (deployment = await startProcesses({ catalog: CATALOG, workers: 2 }));
    const customers = await customersOf(c, 'redis', 10);
    const acknowledged: string[] = [];
    let i = 0;
    const submit = async () => {
      const res = await post(
        c,
        customers[i % customers.length]!,
        { items: [{ productId: 'widget', quantity: 1 }], payment: { token: 'tok_visa' } },
        { prefer: 'respond-async', 'idempotency-key': `r-${i++}` },
      );
      if (res.status === 202 || res.status === 201) acknowledged.push((res.body as { id: string }).id);
      return res;
    };
    await inParallel(100, 10, submit);
    await c.redisServer.kill();
    // While Redis is down: a clear 503, fast, never a 500.
    const downStarted = Date.now();
    const down = await Promise.all(Array.from({ length: 10 }, () => submit()));
    const downMs = Date.now() - downStarted;
    expect(down.map((r) => r.status)).toEqual(Array(10).fill(503));
    expect(down.every((r) => (r.body as { code: string }).code === 'service_unavailable')).toBe(true);
    expect(downMs).toBeLessThan(5_000);
    // Longer than BullMQ's drain delay (5 s): workers must come back without a restart.
    await new Promise((r) => setTimeout(r, 7_000));
    await c.redisServer.restart();
    const recoverStarted = Date.now();
    await vi.waitFor(async () => expect((await submit()).status).toBe(202), { timeout: 30_000, interval: 250 });
    const recoverMs = Date.now() - recoverStarted;
    await inParallel(100, 10, submit);
    const audit = await c.settle(60_000);
    const byStatus = await statusesOf(c, acknowledged);
    report('redis-kill', {
      acknowledged: acknowledged.length,
      byStatus,
      gateway503ms: downMs,
      recoverMs,
      workerRestarts: 0,
      violations: audit.violations.length,
    });

    expect(c.workers.every((w) => w.child.exitCode === null)).toBe(true);
    expect(byStatus.missing ?? 0).toBe(0);
    expect((byStatus.completed ?? 0) + (byStatus.failed ?? 0)).toBe(acknowledged.length);
    expect(byStatus.completed ?? 0).toBeGreaterThanOrEqual(180);
    expect(audit.violations).toEqual([]);
  }, 150_000);
});

describe('chaos: failures under load', () => {
  it('each step made to fail in turn under concurrent load: compensation runs only for completed steps, once each, money and stock first', async () => {
    const c = (deployment = await startProcesses({ catalog: CATALOG, workers: 2 }));
    const customers = await customersOf(c, 'matrix', 10);
    const figures: Record<string, Record<string, number>> = {};
    for (const point of ['payment.charge', 'inventory.commit', 'provision', 'order.place'] as const) {
      // Failing calls enough for several purchases to fail for good (3 attempts each) amid concurrent traffic.
      expect((await c.admin('POST', '/admin/faults', { point, times: 24 })).status).toBe(201);
      const results = await inParallel(30, 10, async (i) => {
        const res = await post(c, customers[i % 10]!, {
          items: [{ productId: 'server', quantity: 1 }],
          payment: { token: 'tok_visa' },
        });
        return {
          status: res.status,
          id: ((res.body as { id?: string; purchaseId?: string }).id ??
            (res.body as { purchaseId?: string }).purchaseId)!,
        };
      });
      await c.admin('DELETE', '/admin/faults');
      await c.settle(30_000);
      const failed = [];
      for (const r of results) {
        const record = (await c.stores.purchases.get(r.id))!;
        if (record.status !== 'failed') continue;
        failed.push(record);
        const at = STEP_NAMES.indexOf(record.error!.step as StepName);
        for (const [i, step] of STEP_NAMES.entries()) {
          const status = record.steps[step];
          if (i < at)
            expect(status, `${point} ${record.id} ${step}`).toBe(
              UNDOABLE.some((u) => u.name === step) ? 'compensated' : 'completed',
            );
          if (i > at) expect(status, `${point} ${record.id} ${step}`).toBe('skipped');
        }
        // Money first: each undo ran on its own step's queue, and settle (which answered the customer)
        // waited only for the money and stock undos, never for the partner's deprovision.
        const queue = (name: string) => new Queue(name, { connection: c.redis, prefix: c.stores.keys.queuePrefix(0) });
        const finished = (
          await Promise.all(
            UNDOABLE.map((step) => queue(stageOfStep(step).queue).getJob(undoJobId(record.id, step.name))),
          )
        ).filter((j) => j?.finishedOn);
        const settled = (await queue(QUEUES.orchestrator).getJob(settleJobId(record.id)))!;
        const deps = await settled.getDependencies();
        const children = [
          ...Object.keys(deps.processed ?? {}),
          ...Object.keys(deps.ignored ?? {}),
          ...(deps.unprocessed ?? []),
        ].map((key) => key.slice(key.lastIndexOf(':') + 1));
        expect(children.sort()).toEqual(
          finished
            .filter((j) => j!.name !== 'deprovision')
            .map((j) => j!.id)
            .sort(),
        );
        expect(children.filter((id) => id.endsWith('undo-provisioning'))).toEqual([]);
        expect(finished.length).toBeGreaterThanOrEqual(at - 1);
      }
      figures[point] = {
        purchases: results.length,
        failed: failed.length,
        completed: results.filter((r) => r.status === 201).length,
      };
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(figures[point]!.completed).toBeGreaterThanOrEqual(5);
    }
    const audit = await c.settle(30_000);
    report('fault-matrix-under-load', {
      ...figures,
      violations: audit.violations.length,
      refunds: audit.figures.refunds,
    });
    expect(audit.violations).toEqual([]);
  }, 150_000);

  it('a compensation that fails for a while recovers; one that never does is left visibly for review', async () => {
    // An outside service that provisions fine but refuses the first `refusals` deprovision calls.
    let refusals = 3;
    const calls: string[] = [];
    const service = (await import('node:http')).createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const body = JSON.parse(raw) as { event: string; provisionedId: string };
        calls.push(body.event);
        const refuse = body.event === 'deprovision' && refusals-- > 0;
        res.writeHead(refuse ? 500 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ externalRef: `ext-${body.provisionedId}` }));
      });
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(service.address() as { port: number }).port}/hooks`;
    try {
      const catalog: Product[] = [
        ...CATALOG,
        {
          id: 'partner-app',
          name: 'Partner app',
          price: { amount: 900, currency: 'USD' },
          stock: 100,
          dependencies: [],
          integration: { url },
        },
      ];
      const c = (deployment = await startProcesses({
        catalog,
        workers: 1,
        env: { STEP_BACKOFF_MS: '100', COMPENSATION_ATTEMPTS: '5' },
      }));
      const customer = await c.customer('comp');
      const buy = async () => {
        expect((await c.admin('POST', '/admin/faults', { point: 'order.place', times: 3 })).status).toBe(201);
        const res = await post(c, customer, {
          items: [{ productId: 'partner-app', quantity: 1 }],
          payment: { token: 'tok_visa' },
        });
        expect(res.status).toBe(502);
        const id = (res.body as { purchaseId: string }).purchaseId;
        // Answered once refunded; the partner's cleanup goes on until it ends, done or for review.
        expect((await c.stores.purchases.get(id))!.payment.status).toBe('voided');
        return vi.waitFor(
          async () => {
            const record = (await c.stores.purchases.get(id))!;
            expect(['done', 'failed']).toContain(record.undos.provisioning?.status);
            return record;
          },
          { timeout: 30_000, interval: 100 },
        );
      };

      // Refuses three times, then accepts: the undo's retries carry it through.
      const recovered = await buy();
      const unit = (await c.stores.provisioned.listByCustomer('comp'))[0]!;
      expect(recovered).toMatchObject({ status: 'failed', payment: { status: 'voided' } });
      expect(recovered.review).toBeUndefined();
      expect(recovered.steps.provisioning).toBe('compensated');
      expect(unit).toMatchObject({ status: 'deprovisioned', integration: { status: 'removed' } });
      expect(calls.filter((e) => e === 'deprovision').length).toBe(4);

      // Never accepts: the customer is still refunded, and the purchase is flagged for an operator.
      refusals = Number.POSITIVE_INFINITY;
      const stuck = await buy();
      expect(stuck).toMatchObject({ status: 'failed', payment: { status: 'voided' } });
      expect(stuck.review).toMatch(/compensation of provisioning failed/);
      const audit = await c.settle(30_000);
      // The audit names exactly what an operator must finish: the unit the service never released.
      expect(audit.figures.needsReview).toBe(1);
      expect(audit.violations).toHaveLength(1);
      expect(audit.violations[0]).toMatch(new RegExp(`provisioned ${stuck.id}.*active with no order`));
      report('failing-compensation', {
        deprovisionCalls: calls.filter((e) => e === 'deprovision').length,
        recovered: recovered.status,
        stuckReview: stuck.review,
        violations: audit.violations,
      });
    } finally {
      service.closeAllConnections();
      await new Promise((r) => service.close(r));
    }
  }, 120_000);
});
