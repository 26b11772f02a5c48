import { serve, type ServerType } from '@hono/node-server';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeService } from './helpers/fake-service.js';
import { newPartnerSecret, startTestPartner, type TestPartner } from './helpers/partner.js';

type UnitState = 'waiting' | 'active' | 'failed' | 'ended';

/** Stands in for our callback route (§5.1): verifies as a client of the library would, answers as the contract says. */
function startReceiver(secret: string) {
  const units = new Map<string, UnitState>();
  const verifier = new Webhook(secret);
  const app = new Hono();
  app.post('/webhooks/partners/:id', async (c) => {
    let body: any;
    try {
      body = verifier.verify(await c.req.text(), c.req.header());
    } catch {
      return c.json({ code: 'invalid_signature' }, 400);
    }
    const state = units.get(c.req.param('id'));
    if (!state) return c.json({ code: 'not_found' }, 404);
    if (body?.status !== 'active' && body?.status !== 'failed') return c.json({ code: 'validation_error' }, 400);
    if (state === body.status) return c.body(null, 204);
    if (state !== 'waiting') return c.json({ code: 'not_cancelable' }, 409);
    units.set(c.req.param('id'), body.status);
    return c.body(null, 204);
  });
  return new Promise<{ server: ServerType; base: string; units: Map<string, UnitState> }>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({ server, base: `http://127.0.0.1:${info.port}`, units }),
    );
  });
}

const secret = newPartnerSecret();
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let partner: TestPartner | undefined;

beforeAll(async () => {
  receiver = await startReceiver(secret);
});
afterAll(() => new Promise((r) => receiver.server.close(r)));
afterEach(async () => {
  await partner?.stop();
  partner = undefined;
});

/** A unit waiting on its partner, and the provision call the system would send for it. */
function unit(productId = 'pro-plan') {
  const id = `unit-${randomUUID()}`;
  receiver.units.set(id, 'waiting');
  return {
    id,
    event: 'provision',
    provisionedId: id,
    productId,
    purchaseId: 'p-1',
    customerId: 'c-1',
    customization: { domain: 'example.com' },
    callbackUrl: `${receiver.base}/webhooks/partners/${id}`,
  };
}

/** POSTs as the system does: JSON, an Idempotency-Key, Standard Webhooks headers over the exact bytes. */
async function call(body: Record<string, unknown>, signing: 'valid' | 'unsigned' | 'tampered' = 'valid') {
  const payload = JSON.stringify(body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'idempotency-key': `${body.provisionedId}-${body.event}`,
  };
  if (signing !== 'unsigned') {
    const [msgId, at] = [`msg_${randomUUID()}`, new Date()];
    headers['webhook-id'] = msgId;
    headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
    headers['webhook-signature'] = new Webhook(secret).sign(msgId, at, payload);
  }
  const sent = signing === 'tampered' ? payload.replace('example.com', 'evil.example') : payload;
  const res = await fetch(partner!.url, { method: 'POST', headers, body: sent });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

const callbacksOf = (id: string) => partner!.callbacks.filter((c) => c.provisionedId === id);

describe('signed calls', () => {
  it('takes a signed call and refuses an unsigned or tampered one with 401, recording each', async () => {
    partner = await startTestPartner({ secret });
    const u = unit();
    expect(await call(u)).toEqual({ status: 200, body: { externalRef: `ext-${u.id}` } });
    expect((await call(unit(), 'unsigned')).status).toBe(401);
    expect((await call(unit(), 'tampered')).status).toBe(401);
    expect(partner.calls.map((c) => [c.signature, c.status])).toEqual([
      ['valid', 200],
      ['missing', 401],
      ['invalid', 401],
    ]);
    expect(partner.calls[0]!.body).toEqual(u);
  });

  it('makes its own valid secret when given none, and one without a secret takes unsigned calls', async () => {
    partner = await startTestPartner();
    expect(partner.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(() => new Webhook(partner!.secret!)).not.toThrow();
    await partner.stop();
    partner = await startTestPartner({ secret: null });
    expect((await call(unit(), 'unsigned')).status).toBe(200);
    expect(partner.calls[0]!.signature).toBe('missing');
  });

  it('with acceptUnsigned takes an unsigned call but still refuses a bad signature', async () => {
    partner = await startTestPartner({ secret, acceptUnsigned: true });
    expect((await call(unit(), 'unsigned')).status).toBe(200);
    expect((await call(unit(), 'tampered')).status).toBe(401);
  });
});

describe('asynchronous provisioning', () => {
  it('answers 202 and calls back, signed, after the delay; our side verifies and takes it', async () => {
    partner = await startTestPartner({ secret, behaviour: { async: { after: 20, outcome: 'active' } } });
    const u = unit();
    expect(await call(u)).toEqual({ status: 202, body: { externalRef: `ext-${u.id}` } });
    await vi.waitFor(() => expect(callbacksOf(u.id)).toHaveLength(1));
    expect(callbacksOf(u.id)[0]).toMatchObject({
      status: 204,
      signing: 'valid',
      body: { status: 'active', externalRef: `ext-${u.id}` },
    });
    expect(receiver.units.get(u.id)).toBe('active');
  });

  it('calls back twice with a failure and its reason; the second is taken again (204)', async () => {
    partner = await startTestPartner({
      secret,
      behaviour: { async: { after: 0, outcome: 'failed', reason: 'no capacity', times: 2 } },
    });
    const u = unit();
    expect((await call(u)).status).toBe(202);
    await vi.waitFor(() => expect(callbacksOf(u.id)).toHaveLength(2));
    expect(callbacksOf(u.id).map((c) => [c.status, c.body])).toEqual([
      [204, { status: 'failed', externalRef: `ext-${u.id}`, reason: 'no capacity' }],
      [204, { status: 'failed', externalRef: `ext-${u.id}`, reason: 'no capacity' }],
    ]);
    expect(receiver.units.get(u.id)).toBe('failed');
  });

  it('an unsigned or badly signed callback is refused by our side, and changes nothing', async () => {
    partner = await startTestPartner({
      secret,
      behaviour: { async: { after: 0, outcome: 'active', signing: 'unsigned' } },
    });
    const u = unit();
    await call(u);
    await vi.waitFor(() => expect(callbacksOf(u.id)).toHaveLength(1));
    expect(callbacksOf(u.id)[0]).toMatchObject({
      signing: 'unsigned',
      status: 400,
      answer: { code: 'invalid_signature' },
    });
    const forged = await partner.callBack(u.id, { status: 'active' }, { signing: 'bad' });
    expect([forged.status, forged.answer]).toEqual([400, { code: 'invalid_signature' }]);
    const stale = await partner.callBack(u.id, undefined, { timestamp: new Date(Date.now() - 10 * 60_000) });
    expect(stale.status).toBe(400);
    expect(receiver.units.get(u.id)).toBe('waiting');
  });

  it('callBack sends by hand: taken, malformed, late after the unit ended, unknown unit', async () => {
    partner = await startTestPartner({ secret, behaviour: { async: 'never' } });
    const u = unit();
    await call(u);
    expect((await partner.callBack(partner.calls[0]!, { status: 'done' })).answer).toEqual({
      code: 'validation_error',
    });
    expect((await partner.callBack(u.id)).status).toBe(204);
    receiver.units.set(u.id, 'ended');
    expect((await partner.callBack(u.id, { status: 'failed' })).answer).toEqual({ code: 'not_cancelable' });
    const unknown = await partner.callBack(`${receiver.base}/webhooks/partners/nobody`, { status: 'active' });
    expect([unknown.provisionedId, unknown.status]).toEqual(['nobody', 404]);
    await expect(partner.callBack('never-called')).rejects.toThrow(/no callbackUrl/);
  });

  it("{ async: 'never' } answers 202 and sends no callback, while another product's behaviour calls back", async () => {
    partner = await startTestPartner({ secret, behaviour: { async: 'never' } });
    partner.set({ async: { after: 0, outcome: 'active' } }, { productId: 'ip-address' });
    const [silent, answered] = [unit(), unit('ip-address')];
    expect((await call(silent)).status).toBe(202);
    expect((await call(answered)).status).toBe(202);
    // Timers run in order: had the first call scheduled a callback, it would be in before the second's.
    await vi.waitFor(() => expect(callbacksOf(answered.id)).toHaveLength(1));
    expect(partner.callbacks).toHaveLength(1);
  });

  it('a deprovision is answered at once, unless a behaviour is set for deprovision', async () => {
    partner = await startTestPartner({ secret, behaviour: { async: { after: 0, outcome: 'active' } } });
    const u = unit();
    expect((await call({ ...u, event: 'deprovision' })).status).toBe(200);
    partner.set('fail', { event: 'deprovision' });
    expect((await call({ ...unit(), event: 'deprovision' })).status).toBe(500);
    partner.set({ status: 503 }, { productId: 'pro-plan', event: 'deprovision' });
    expect((await call({ ...unit(), event: 'deprovision' })).status).toBe(503);
    expect(partner.callbacks).toHaveLength(0);
  });
});

describe('redelivery and failure', () => {
  it('a redelivered provision gets the same answer and no second callback', async () => {
    partner = await startTestPartner({ secret, behaviour: { async: { after: 20, outcome: 'active' } } });
    const [u, later] = [unit(), unit()];
    const first = await call(u);
    expect(await call(u)).toEqual(first);
    await call(later);
    await vi.waitFor(() => expect(callbacksOf(later.id)).toHaveLength(1));
    expect(callbacksOf(u.id)).toHaveLength(1);
    expect(partner.calls).toHaveLength(3);
  });

  it('a failure is not remembered: the retry with the same key runs the behaviour now set', async () => {
    partner = await startTestPartner({ secret, behaviour: 'fail' });
    const u = unit();
    expect(await call(u)).toEqual({ status: 500, body: { error: 'failed' } });
    partner.set({ slowMs: 30 });
    const [a, b] = await Promise.all([call(u), call(u)]);
    expect([a, b]).toEqual([
      { status: 200, body: { externalRef: `ext-${u.id}` } },
      { status: 200, body: { externalRef: `ext-${u.id}` } },
    ]);
    partner.set('fail');
    expect((await call(u)).status).toBe(200);
  });

  it('hangs until stop, which ends the call and cancels callbacks not yet sent', async () => {
    partner = await startTestPartner({ secret, behaviour: 'hang' });
    partner.set({ async: { after: 60_000, outcome: 'active' } }, { productId: 'ip-address' });
    const waiting = unit('ip-address');
    expect((await call(waiting)).status).toBe(202);
    const hung = call(unit());
    await vi.waitFor(() => expect(partner!.calls).toHaveLength(2));
    expect(partner.calls[1]!.status).toBeUndefined();
    await partner.stop();
    await expect(hung).rejects.toThrow();
    expect(partner.callbacks).toHaveLength(0);
  });

  it('the fake service is the partner without a secret or memory: each call runs the behaviour now set', async () => {
    const fake = await startFakeService('ok');
    try {
      const body = JSON.stringify(unit());
      const post = () => fetch(fake.url, { method: 'POST', headers: { 'idempotency-key': 'k' }, body });
      expect((await post()).status).toBe(200);
      fake.set({ status: 503 });
      expect((await post()).status).toBe(503);
      expect(fake.requests.map((r) => r.signature)).toEqual(['missing', 'missing']);
    } finally {
      await fake.stop();
    }
  });
});
