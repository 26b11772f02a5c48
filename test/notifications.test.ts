import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { startFakeService } from './helpers/fake-service.js';
import { loseNotification } from './helpers/lost-writes.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { createLogger } from '../src/logger.js';

/** The receiver's copy of the signing secret (Standard Webhooks: whsec_ and 32 random bytes in base64). */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

describe('notifications webhook', () => {
  let hook: Awaited<ReturnType<typeof startFakeService>>;
  let sys: TestSystem;
  beforeAll(async () => {
    hook = await startFakeService('ok');
    sys = await startTestSystem({ env: { NOTIFY_WEBHOOK_URL: hook.url, NOTIFY_WEBHOOK_SECRET: SECRET } });
  });
  afterAll(async () => {
    await sys?.stop();
    await hook?.stop();
  });

  it('POSTs every notification to NOTIFY_WEBHOOK_URL with a stable Idempotency-Key', async () => {
    const customer = await sys.customer();
    const res = await customer.buy('basic-plan');
    expect(res.status).toBe(201);
    const stored = await customer.notifications();
    const delivered = await eventually('deliveries', async () => {
      const mine = hook.requests.filter((r) => r.body?.purchaseId === res.body.id);
      return mine.length === stored.length ? mine : undefined;
    });
    expect(delivered.map((r) => r.body.type).sort()).toEqual(stored.map((n) => n.type).sort());
    for (const r of delivered) expect(r.headers['idempotency-key']).toBe(r.body.id);
  });

  it('signs every delivery (Standard Webhooks): the receiver verifies it with the shared secret, and a changed body fails', async () => {
    const customer = await sys.customer();
    const res = await customer.buy('basic-plan');
    expect(res.status).toBe(201);
    const delivered = await eventually('deliveries', async () => {
      const mine = hook.requests.filter((r) => r.body?.purchaseId === res.body.id);
      return mine.length >= 2 ? mine : undefined;
    });
    const receiver = new Webhook(SECRET);
    for (const r of delivered) {
      const headers = r.headers as Record<string, string>;
      expect(headers['webhook-id']).toBe(r.body.id);
      expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(receiver.verify(r.raw, headers)).toEqual(r.body);
      // Anyone who changes the body, or signs without the secret, is caught.
      expect(() => receiver.verify(r.raw.replace(r.body.id, 'ntf_forged'), headers)).toThrow();
      expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(r.raw, headers)).toThrow();
    }
  });

  it("an operator's retry delivers a lost confirmation again, under its Idempotency-Key, and nothing else twice", async () => {
    const customer = await sys.customer();
    const res = await customer.buy('basic-plan');
    expect(res.status).toBe(201);
    const id: string = res.body.id;
    const stored = await customer.notifications();
    const deliveries = () => hook.requests.filter((r) => r.body?.purchaseId === id);
    await eventually('deliveries', async () => deliveries().length === stored.length);
    const confirmation = stored.find((n) => n.type === 'order_confirmation')!;
    // A failover lost the confirmation, and the deliveries are past BullMQ's dedup window (as an
    // hour later: their jobs removed), so only the retry decides what is delivered again.
    const queue = new Queue('notifications', {
      connection: sys.redis,
      prefix: sys.stores.keys.queuePrefix(sys.stores.keys.shardOf(id)),
    });
    try {
      for (const n of stored) await (await queue.getJob(n.id))?.remove();
      await loseNotification(sys, customer.id, confirmation.id);

      expect((await sys.admin('POST', `/admin/purchases/${id}/retry`)).status).toBe(202);
      const again = await eventually('the confirmation delivered again', async () => {
        const mine = deliveries().filter((r) => r.body.id === confirmation.id);
        return mine.length === 2 ? mine[1] : undefined;
      });
      expect(again.headers['idempotency-key']).toBe(confirmation.id);
      expect(again.body).toMatchObject({ type: 'order_confirmation', purchaseId: id });
      // Once the queue is idle, every other notification was still delivered once.
      await eventually('the notifications queue idle', async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
        return counts.waiting + counts.active + counts.delayed === 0;
      });
      for (const n of stored.filter((n) => n.id !== confirmation.id))
        expect(deliveries().filter((r) => r.body.id === n.id)).toHaveLength(1);
      expect((await customer.notifications()).map((n) => n.id).sort()).toEqual(stored.map((n) => n.id).sort());
    } finally {
      await queue.close();
    }
  });

  it('a webhook outage never undoes a purchase: it completes, and deliveries are retried until the receiver is back', async () => {
    hook.set({ status: 503 });
    const customer = await sys.customer();
    const res = await customer.buy('basic-plan');
    // the pivot was passed: the purchase completed and was not refunded
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('completed');
    expect(res.body.payment.status).toBe('captured');
    const attempts = await eventually('failed delivery attempts', async () => {
      const mine = hook.requests.filter(
        (r) => r.body?.purchaseId === res.body.id && r.body?.type === 'order_confirmation',
      );
      return mine.length >= 2 ? mine : undefined;
    });
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    hook.set('ok');
    // Backoff doubles from 1 s; the third attempt comes about 3 s after the first.
    await eventually(
      'the confirmation to be delivered after the outage',
      async () => {
        const n = hook.requests.filter(
          (r) => r.body?.purchaseId === res.body.id && r.body?.type === 'order_confirmation',
        ).length;
        return n > attempts.length;
      },
      { timeout: 15_000 },
    );
    expect((await customer.purchaseState(res.body.id)).payment.status).toBe('captured');
    expect(await customer.orders()).toHaveLength(1);
  }, 30_000);
});

describe('logs', () => {
  it('redact payment tokens and credentials', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const real = createLogger('info', sink);
    real.info(
      { payment: { token: 'tok_visa' }, req: { headers: { authorization: 'Bearer secret.jwt' } }, password: 'hunter2' },
      'hello',
    );
    const out = lines.join('');
    expect(out).toContain('hello');
    expect(out).not.toContain('tok_visa');
    expect(out).not.toContain('secret.jwt');
    expect(out).not.toContain('hunter2');
  });
});
