import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAudit } from '../src/audit.js';
import type { Customer } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { flaggedPurchase } from './helpers/review.js';
import { loseNotification, purchaseWithOrderLost, purchaseWithVoidLost } from './helpers/lost-writes.js';
import { providerPaymentOf } from './helpers/gateway.js';
import { TEST_ADMIN } from './helpers/deployment.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/** `npm run audit` on the system's Redis, as an operator runs it: its exit code and what it printed. */
function runAuditCli(sys: TestSystem): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/audit-cli.ts'],
      { env: { ...process.env, ...sys.redisEnv, LOG_LEVEL: 'silent' }, timeout: 30_000 },
      (err, stdout) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout }),
    );
  });
}

/** The operator's actions on purchases (contract §7): look, list the review queue, retry, resolve. */
describe('Feature: operator review of purchases', () => {
  let sys: TestSystem;
  let partner: Awaited<ReturnType<typeof startFakeService>>;

  beforeAll(async () => {
    partner = await startFakeService('ok');
    sys = await startTestSystem({ catalog: testCatalog(partner.url) });
  });
  afterAll(async () => {
    await sys?.stop();
    await partner?.stop();
  });

  const view = async (id: string) => (await sys.admin('GET', `/admin/purchases/${id}`)).body;

  const flagged = (customer: Customer) => flaggedPurchase(customer, partner);

  it("shows any customer's purchase with its steps, the outcome of each undo with its time, the review and its jobs", async () => {
    const customer = await sys.customer();
    const id = await flagged(customer);
    const v = await view(id);
    expect(v).toMatchObject({
      id,
      customerId: customer.id,
      status: 'failed',
      phase: 'done',
      payment: { status: 'voided' },
    });
    expect(v.review).toMatchObject({
      status: 'manual_review',
      reason: expect.stringContaining('compensation of provisioning failed'),
    });
    const provisioning = v.steps.find((s: any) => s.name === 'provisioning');
    expect(provisioning).toMatchObject({
      status: 'failed',
      undo: { status: 'failed', attempts: 5, error: expect.any(String) },
    });
    expect(Date.parse(provisioning.at)).toBeGreaterThan(0);
    expect(v.steps.find((s: any) => s.name === 'payment')).toMatchObject({
      status: 'compensated',
      undo: { status: 'done' },
    });
    const undoJob = v.jobs.find((j: any) => j.kind === 'undo' && j.name === 'deprovision');
    expect(undoJob).toMatchObject({ queue: 'provisioning', state: 'failed', attempts: 5 });
    // Bull Board names the queue `<shard>:provisioning` once there are several shards (the cluster project).
    const [, board, jobId] = /^\/admin\/queues\/queue\/([^/]+)\/([^/]+)$/.exec(undoJob.board)!;
    expect(decodeURIComponent(board!)).toMatch(/^(\d+:)?provisioning$/);
    expect(jobId).toBe(encodeURIComponent(undoJob.id));
    // Bull Board knows the job under that link's queue and id.
    const known = await sys.admin('GET', `/admin/queues/api/queues/${board}/${jobId}`);
    expect(known.status).toBe(200);
    expect((known.body as { job: { id: string } }).job.id).toBe(undoJob.id);
    expect((await sys.admin('GET', '/admin/purchases/pur_nothing')).status).toBe(404);
    expect((await fetch(`${sys.gatewayUrl}/admin/purchases/${id}`)).status).toBe(401);
  });

  it('lists the purchases needing review, paged with Link, and leaves out the resolved ones', async () => {
    const customer = await sys.customer();
    const ids = [await flagged(customer), await flagged(customer), await flagged(customer)];
    const first = await sys.admin('GET', '/admin/purchases?review=manual_review&limit=2');
    expect(first.status).toBe(200);
    expect(first.body).toHaveLength(2);
    const link = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1];
    expect(link).toBeDefined();
    const seen = [...first.body];
    for (let next: string | undefined = link; next;) {
      const page = await sys.admin('GET', next);
      seen.push(...page.body);
      next = /<([^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
    }
    // Newest flag first, no repeats, each with what the operator needs to pick it.
    expect(new Set(seen.map((p) => p.id)).size).toBe(seen.length);
    const mine = seen.filter((p) => ids.includes(p.id));
    expect(mine.map((p) => p.id)).toEqual([...ids].reverse());
    expect(mine[0]).toMatchObject({ customerId: customer.id, status: 'failed', review: { status: 'manual_review' } });

    await sys.admin('POST', `/admin/purchases/${ids[1]}/resolve`, { note: 'removed by hand at the partner' });
    const after = (await sys.admin('GET', '/admin/purchases?review=manual_review&limit=100')).body.map(
      (p: any) => p.id,
    );
    expect(after).toContain(ids[0]);
    expect(after).not.toContain(ids[1]);
    expect((await sys.admin('GET', '/admin/purchases?review=nope')).body).toMatchObject({ code: 'validation_error' });
    expect((await sys.admin('GET', '/admin/purchases?review=manual_review&limit=0')).status).toBe(400);
  });

  it('resolves a review by hand, keeping the note with who and when; the customer sees it resolved', async () => {
    const customer = await sys.customer();
    const id = await flagged(customer);
    const res = await sys.admin('POST', `/admin/purchases/${id}/resolve`, {
      note: 'partner confirmed the unit is gone',
    });
    expect(res.status).toBe(200);
    expect(res.body.review).toMatchObject({
      status: 'resolved',
      resolution: { how: 'manual', by: TEST_ADMIN.user, note: 'partner confirmed the unit is gone' },
    });
    expect(Date.parse(res.body.review.resolution.at)).toBeGreaterThan(0);
    expect((await customer.purchaseState(id)).review).toMatchObject({ status: 'resolved' });
    // Resolving again keeps the first resolution; a body without a note, or a purchase never flagged, is refused.
    const again = await sys.admin('POST', `/admin/purchases/${id}/resolve`, { note: 'again' });
    expect(again.body.review.resolution.note).toBe('partner confirmed the unit is gone');
    expect((await sys.admin('POST', `/admin/purchases/${id}/resolve`, {})).status).toBe(400);
    const fine = await customer.buy('basic-plan');
    expect((await sys.admin('POST', `/admin/purchases/${fine.body.id}/resolve`, { note: 'x' })).body).toMatchObject({
      code: 'validation_error',
    });
    const metrics = await (await fetch(`${sys.gatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(/reviews_resolved_total\{how="manual"\} [1-9]/);
    expect(metrics).toMatch(/^purchases_in_review \d+$/m);
  });

  it('a retry once the partner is back re-runs the failed undo from its first attempt and resolves the review', async () => {
    const customer = await sys.customer();
    const id = await flagged(customer);
    const deprovisions = () =>
      partner.requests.filter((r) => r.body?.purchaseId === id && r.body.event === 'deprovision').length;
    const before = deprovisions();
    const res = await sys.admin('POST', `/admin/purchases/${id}/retry`);
    expect(res.status).toBe(202);
    await vi.waitFor(
      async () => expect((await view(id)).review).toMatchObject({ status: 'resolved', resolution: { how: 'retry' } }),
      {
        timeout: 15_000,
        interval: 100,
      },
    );
    const v = await view(id);
    // The unit was never confirmed, so the step stays failed; its undo is done, at the first attempt of the re-run.
    expect(v.steps.find((s: any) => s.name === 'provisioning')).toMatchObject({
      status: 'failed',
      undo: { status: 'done', attempts: 1 },
    });
    expect(deprovisions()).toBe(before + 1);
    expect(v.status).toBe('failed');
    // Nothing left undone: a second retry changes nothing.
    expect((await sys.admin('POST', `/admin/purchases/${id}/retry`)).status).toBe(202);
    await vi.waitFor(async () => expect(await sys.stores.purchases.openIds()).toEqual([]), { timeout: 10_000 });
    expect(deprovisions()).toBe(before + 1);
    const metrics = await (await fetch(`${sys.gatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(/operator_retries_total [1-9]/);
    expect(metrics).toMatch(/reviews_resolved_by_retry_total [1-9]/);
  });
  it('a retry of a completed purchase whose Product Store unit was lost provisions it again, at its partner with the same key', async () => {
    const customer = await sys.customer();
    const bought = await customer.buy('analytics', 2);
    expect(bought.status).toBe(201);
    const id: string = bought.body.id;
    const units = await customer.provisioned();
    expect(units.map((u) => u.status)).toEqual(['active', 'active']);
    // The unit's write lost (a failover's stale master, README Scale-out): the audit names the order.
    const lost = units[0]!;
    const firstCall = partner.requests.find((r) => r.body?.provisionedId === lost.id && r.body?.event === 'provision')!;
    await sys.redis.del(sys.stores.keys.provisioned(lost.id));
    const [order] = await customer.orders();
    const ofOrder = async () => (await runAudit(sys.stores)).violations.filter((v) => v.includes(order.id));
    expect(await ofOrder()).toEqual([`order ${order.id}: 1 of its 2 analytics units provisioned`]);

    expect((await sys.admin('POST', `/admin/purchases/${id}/retry`)).status).toBe(202);
    await vi.waitFor(
      async () => expect((await customer.provisioned()).map((u) => u.id).sort()).toEqual(units.map((u) => u.id).sort()),
      {
        timeout: 10_000,
        interval: 100,
      },
    );
    expect((await customer.provisioned()).every((u) => u.status === 'active')).toBe(true);
    const again = partner.requests.filter((r) => r.body?.provisionedId === lost.id && r.body?.event === 'provision');
    expect(again).toHaveLength(2);
    expect(again[1]!.headers['idempotency-key']).toBe(firstCall.headers['idempotency-key']);
    // Only the lost unit was provisioned again, and the purchase is as it was.
    expect(partner.requests.filter((r) => r.body?.purchaseId === id && r.body?.event === 'provision')).toHaveLength(3);
    expect(await ofOrder()).toEqual([]);
    expect((await customer.purchaseState(id)).status).toBe('completed');
  });

  it('the audit names the purchase whose order was lost, and a retry places the same order again', async () => {
    const { customer, id, placed } = await purchaseWithOrderLost(sys);
    expect(await customer.orders()).toEqual([]);
    // GET /admin/audit: 409, the violations, and the purchases they name, for Retry.
    const audit = await sys.admin('GET', '/admin/audit');
    expect(audit.status).toBe(409);
    expect(audit.body.violations).toContain(`purchase ${id}: charged with no order and no refund`);
    expect(audit.body.purchases).toContain(id);
    // npm run audit says the same, exits 1, and names the purchase to retry.
    const cli = await runAuditCli(sys);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`VIOLATION purchase ${id}: charged with no order and no refund`);
    expect(cli.stdout.split('\n')).toContain(`RETRY ${id}`);
    const placedAgain = async () =>
      Number(
        /^orders_placed_again_total (\d+)/m.exec(await (await fetch(`${sys.gatewayUrl}/metrics`)).text())?.[1] ?? 0,
      );
    const before = await placedAgain();

    expect((await sys.admin('POST', `/admin/purchases/${id}/retry`)).status).toBe(202);
    await vi.waitFor(async () => expect(await customer.orders()).toHaveLength(1), { timeout: 10_000, interval: 100 });
    const [again] = await customer.orders();
    expect(again).toMatchObject({
      id: placed.id,
      purchaseId: id,
      items: placed.items,
      total: placed.total,
      status: 'placed',
    });
    const after = await sys.admin('GET', '/admin/audit');
    expect(after.body.violations.filter((v: string) => v.includes(id) || v.includes(placed.id))).toEqual([]);
    expect(after.body.purchases).not.toContain(id);
    expect((await customer.purchaseState(id)).status).toBe('completed');
    expect(await placedAgain()).toBe(before + 1);
  });

  it('an authorization the provider holds again for a failed purchase: the audit names it, a retry voids it', async () => {
    const { customer, id, voided } = await purchaseWithVoidLost(sys);
    expect(voided).toMatchObject({ state: 'voided', captured: 0 });

    const audit = await sys.admin('GET', '/admin/audit');
    expect(audit.body.violations).toContain(
      `purchase ${id}: its payment is still authorized, neither captured nor voided`,
    );
    expect(audit.body.purchases).toContain(id);
    expect((await sys.admin('POST', `/admin/purchases/${id}/retry`)).status).toBe(202);
    await vi.waitFor(async () => expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided' }), {
      timeout: 10_000,
      interval: 100,
    });
    const after = await sys.admin('GET', '/admin/audit');
    expect(after.body.violations.filter((v: string) => v.includes(id))).toEqual([]);
    // What the customer sees is unchanged: failed, never charged.
    expect(await customer.purchaseState(id)).toMatchObject({
      status: 'failed',
      payment: { status: 'voided', amount: 999 },
    });
    expect(await providerPaymentOf(sys, id)).toMatchObject({ captured: 0, refunded: 0 });
  });

  it('a retry of a completed purchase whose confirmation was lost sends it again, and nothing else twice', async () => {
    const customer = await sys.customer();
    const bought = await customer.buy('basic-plan');
    expect(bought.status).toBe(201);
    const id: string = bought.body.id;
    const sent = await customer.notifications();
    const confirmation = sent.find((n) => n.type === 'order_confirmation')!;
    expect(confirmation).toBeDefined();
    // The confirmation's writes lost (a failover, README Scale-out): the customer no longer sees it, the audit says so.
    await loseNotification(sys, customer.id, confirmation.id);
    expect((await customer.notifications()).map((n) => n.id)).not.toContain(confirmation.id);
    const ofPurchase = async () => (await runAudit(sys.stores)).violations.filter((v) => v.includes(id));
    expect(await ofPurchase()).toEqual([`purchase ${id}: completed without an order confirmation`]);

    const retried = await sys.admin('POST', `/admin/purchases/${id}/retry`);
    expect(retried.status).toBe(202);
    await vi.waitFor(async () => expect((await customer.notifications()).map((n) => n.id)).toContain(confirmation.id), {
      timeout: 10_000,
      interval: 100,
    });
    const now = await customer.notifications();
    // The same confirmation under its id, once; the ones never lost are as they were.
    expect(now.map((n) => n.id).sort()).toEqual(sent.map((n) => n.id).sort());
    expect(now.find((n) => n.id === confirmation.id)).toMatchObject({
      type: 'order_confirmation',
      purchaseId: id,
      message: confirmation.message,
    });
    for (const kept of sent.filter((n) => n.id !== confirmation.id))
      expect(now.find((n) => n.id === kept.id)).toEqual(kept);
    expect(await ofPurchase()).toEqual([]);
    expect((await customer.purchaseState(id)).status).toBe('completed');
    expect(await customer.orders()).toHaveLength(1);
  });
});
