import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { startStripeServer, type StripeServer } from '../harness/stripe/index.js';

/*
 * The local Stripe server (harness/stripe), a process of its own, driven only through the official `stripe` SDK
 * and the server's control API. Every test starts from a reset server.
 */

let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer();
}, 30_000);
afterAll(async () => {
  await server?.stop();
});
beforeEach(async () => {
  await server.control.reset();
});

const RETURN_URL = 'https://shop.example/payment-return';

function sdk(maxNetworkRetries = 0): Stripe {
  return new Stripe('sk_test_harness', { host: server.host, port: server.port, protocol: 'http', maxNetworkRetries });
}

function authorize(stripe: Stripe, params: Partial<Stripe.PaymentIntentCreateParams> = {}, key?: string) {
  return stripe.paymentIntents.create(
    {
      amount: 1999,
      currency: 'usd',
      capture_method: 'manual',
      confirm: true,
      payment_method: 'pm_card_visa',
      return_url: RETURN_URL,
      metadata: { purchase_id: 'pur-1' },
      ...params,
    },
    key ? { idempotencyKey: key } : undefined,
  );
}

async function rejection(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (err) {
    return err as Stripe.errors.StripeError;
  }
  throw new Error('expected the call to fail');
}

interface Receiver {
  url: string;
  received: Array<{ body: string; signature: string }>;
  close(): Promise<void>;
}

/** A webhook endpoint of the test's own; `verify` decides its answer (400 for a signature it rejects). */
async function receiver(verify: (body: string, signature: string) => boolean = () => true): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = String(req.headers['stripe-signature']);
      received.push({ body, signature });
      res.writeHead(verify(body, signature) ? 200 : 400).end();
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    received,
    close: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

const types = (r: Receiver) => r.received.map((x) => (JSON.parse(x.body) as Stripe.Event).type);

describe('PaymentIntents', () => {
  it('authorizes with manual capture, then captures; a second capture is payment_intent_unexpected_state', async () => {
    const stripe = sdk();
    const pi = await authorize(stripe);
    expect(pi).toMatchObject({
      object: 'payment_intent',
      status: 'requires_capture',
      amount: 1999,
      amount_capturable: 1999,
      amount_received: 0,
      capture_method: 'manual',
      currency: 'usd',
      livemode: false,
      metadata: { purchase_id: 'pur-1' },
      next_action: null,
      last_payment_error: null,
    });
    expect(pi.id).toMatch(/^pi_/);
    expect(pi.client_secret).toMatch(new RegExp(`^${pi.id}_secret_`));
    expect(pi.latest_charge).toMatch(/^ch_/);
    expect(pi.payment_method).toMatch(/^pm_/);
    expect(pi.lastResponse.requestId).toMatch(/^req_/);

    const captured = await stripe.paymentIntents.capture(pi.id, {}, { idempotencyKey: `capture-${pi.id}` });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 1999, amount_capturable: 0 });
    const charged = await stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
    expect(charged.latest_charge).toMatchObject({ object: 'charge', captured: true, amount_captured: 1999 });

    const again = await rejection(stripe.paymentIntents.capture(pi.id));
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(again).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    expect(again.payment_intent).toMatchObject({ id: pi.id, status: 'succeeded' });
  });

  it('prepares unconfirmed, confirms later, and captures at once with automatic capture', async () => {
    const stripe = sdk();
    const prepared = await stripe.paymentIntents.create({
      amount: 500,
      currency: 'EUR',
      metadata: { purchase_id: 'p' },
    });
    expect(prepared).toMatchObject({ status: 'requires_payment_method', currency: 'eur', capture_method: 'automatic' });
    const updated = await stripe.paymentIntents.update(prepared.id, { metadata: { note: 'x' } });
    expect(updated.metadata).toEqual({ purchase_id: 'p', note: 'x' });
    const noReturnUrl = await rejection(stripe.paymentIntents.confirm(prepared.id, { payment_method: 'pm_card_visa' }));
    expect(noReturnUrl).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(noReturnUrl.message).toMatch(/return_url/);
    const paid = await stripe.paymentIntents.confirm(prepared.id, {
      payment_method: 'tok_visa',
      return_url: RETURN_URL,
    });
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 500 });
    const unknown = await rejection(
      stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: 'pm_nope' }),
    );
    expect(unknown).toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'payment_method' });
    const missing = await rejection(stripe.paymentIntents.retrieve('pi_missing'));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('cancels an authorization; capturing or canceling it afterwards is payment_intent_unexpected_state', async () => {
    const stripe = sdk();
    const pi = await authorize(stripe);
    const canceled = await stripe.paymentIntents.cancel(pi.id, { cancellation_reason: 'abandoned' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned', amount_capturable: 0 });
    expect(canceled.canceled_at).toEqual(expect.any(Number));
    const capture = await rejection(stripe.paymentIntents.capture(pi.id));
    expect(capture).toMatchObject({ code: 'payment_intent_unexpected_state', payment_intent: { status: 'canceled' } });
    const cancel = await rejection(stripe.paymentIntents.cancel(pi.id));
    expect(cancel).toMatchObject({ code: 'payment_intent_unexpected_state' });

    const succeeded = await authorize(stripe, { capture_method: 'automatic' });
    const late = await rejection(stripe.paymentIntents.cancel(succeeded.id));
    expect(late).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(late).toMatchObject({ code: 'payment_intent_unexpected_state', payment_intent: { status: 'succeeded' } });
  });

  it('a declined card raises StripeCardError and leaves the PaymentIntent in requires_payment_method', async () => {
    const stripe = sdk();
    const declined = await rejection(authorize(stripe, { payment_method: 'pm_card_chargeDeclined' }));
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(declined).toMatchObject({ statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' });
    const pi = await stripe.paymentIntents.retrieve(declined.payment_intent!.id);
    expect(pi).toMatchObject({ status: 'requires_payment_method', payment_method: null });
    expect(pi.last_payment_error).toMatchObject({ type: 'card_error', code: 'card_declined' });

    const poor = await rejection(authorize(stripe, { payment_method: 'pm_card_visa_chargeDeclinedInsufficientFunds' }));
    expect(poor).toMatchObject({ type: 'StripeCardError', decline_code: 'insufficient_funds' });
  });

  it('fails the next capture as an expired authorization (charge_expired_for_capture), canceling it', async () => {
    const stripe = sdk();
    const pi = await authorize(stripe);
    await server.control.failNextCapture(pi.id);
    const expired = await rejection(stripe.paymentIntents.capture(pi.id));
    expect(expired).toMatchObject({ statusCode: 400, code: 'charge_expired_for_capture' });
    expect(await stripe.paymentIntents.retrieve(pi.id)).toMatchObject({
      status: 'canceled',
      cancellation_reason: 'automatic',
    });
  });
});

describe('3-D Secure', () => {
  it('requires_action with a redirect; completing authorizes, failing returns to requires_payment_method', async () => {
    const stripe = sdk();
    const pi = await authorize(stripe, { payment_method: 'pm_card_authenticationRequired' });
    expect(pi.status).toBe('requires_action');
    expect(pi.next_action).toMatchObject({ type: 'redirect_to_url', redirect_to_url: { return_url: RETURN_URL } });
    expect(pi.next_action!.redirect_to_url!.url).toMatch(new RegExp(`^${server.url}/`));
    expect((await server.control.authenticate(pi.id, 'complete')).status).toBe('requires_capture');
    expect(await stripe.paymentIntents.retrieve(pi.id)).toMatchObject({
      status: 'requires_capture',
      amount_capturable: 1999,
    });

    const other = await authorize(stripe, { payment_method: 'pm_card_threeDSecure2Required' });
    await server.control.authenticate(other.id, 'fail');
    const failed = await stripe.paymentIntents.retrieve(other.id);
    expect(failed).toMatchObject({ status: 'requires_payment_method', next_action: null });
    expect(failed.last_payment_error).toMatchObject({ code: 'payment_intent_authentication_failure' });
  });

  it("the test page's Complete button authorizes and redirects to return_url; the used link is no longer valid", async () => {
    const stripe = sdk();
    const pi = await authorize(stripe, { payment_method: 'pm_card_authenticationRequired' });
    const link = pi.next_action!.redirect_to_url!.url!;
    const page = await fetch(link);
    const html = await page.text();
    expect(html).toContain('Complete');
    expect(html).toContain('Fail');
    const form = new URLSearchParams(new URL(link).search);
    const done = await fetch(`${server.url}/3d_secure_2/hosted/complete`, {
      method: 'POST',
      body: form,
      redirect: 'manual',
    });
    expect(done.status).toBe(303);
    const target = new URL(done.headers.get('location')!);
    expect(`${target.origin}${target.pathname}`).toBe(RETURN_URL);
    expect(target.searchParams.get('payment_intent')).toBe(pi.id);
    expect(target.searchParams.get('redirect_status')).toBe('succeeded');
    expect((await stripe.paymentIntents.retrieve(pi.id)).status).toBe('requires_capture');
    expect((await fetch(link)).status).toBe(400);
  });
});

describe('Refunds', () => {
  it('refunds partly, then the rest; one more is charge_already_refunded; too much is an amount error', async () => {
    const stripe = sdk();
    const pi = await authorize(stripe, { capture_method: 'automatic' });
    const tooMuch = await rejection(stripe.refunds.create({ payment_intent: pi.id, amount: 5000 }));
    expect(tooMuch).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooMuch).toMatchObject({ param: 'amount' });
    expect(tooMuch.message).toMatch(/greater than unrefunded amount/);
    const part = await stripe.refunds.create({ payment_intent: pi.id, amount: 500, metadata: { reason: 'item' } });
    expect(part).toMatchObject({ object: 'refund', amount: 500, status: 'succeeded', payment_intent: pi.id });
    expect(part.id).toMatch(/^re_/);
    const rest = await stripe.refunds.create({ payment_intent: pi.id });
    expect(rest.amount).toBe(1499);
    const again = await rejection(stripe.refunds.create({ payment_intent: pi.id }));
    expect(again).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });
    const listed = await stripe.refunds.list({ payment_intent: pi.id });
    expect(listed.data.map((r) => r.id)).toEqual([rest.id, part.id]);
    expect(await stripe.refunds.retrieve(part.id)).toMatchObject({ metadata: { reason: 'item' } });

    const uncaptured = await authorize(stripe);
    const notYet = await rejection(stripe.refunds.create({ payment_intent: uncaptured.id }));
    expect(notYet.message).toMatch(/does not have a successful charge to refund/);
  });
});

describe('Idempotency', () => {
  it('replays the first answer for the same key and parameters (Idempotent-Replayed)', async () => {
    const stripe = sdk();
    const first = await authorize(stripe, {}, 'auth:pur-1');
    const second = await authorize(stripe, {}, 'auth:pur-1');
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect((await server.control.ledger()).payment_intents).toHaveLength(1);
  });

  it('the same key with other parameters raises StripeIdempotencyError', async () => {
    const stripe = sdk();
    await authorize(stripe, {}, 'auth:pur-2');
    const err = await rejection(authorize(stripe, { amount: 2999 }, 'auth:pur-2'));
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err).toMatchObject({ statusCode: 400, rawType: 'idempotency_error' });
  });

  it('a key pruned after 24 hours creates a new PaymentIntent', async () => {
    const stripe = sdk();
    const first = await authorize(stripe, {}, 'auth:pur-3');
    await server.control.advanceClock(24 * 3600);
    const second = await authorize(stripe, {}, 'auth:pur-3');
    expect(second.id).not.toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect((await server.control.ledger()).payment_intents).toHaveLength(2);
  });

  it('a second request while the first with the same key is in flight gets 409 idempotency_key_in_use', async () => {
    const stripe = sdk();
    await server.control.latency(300, { method: 'POST', path: '/v1/payment_intents' });
    const [a, b] = await Promise.allSettled([authorize(stripe, {}, 'auth:pur-4'), authorize(stripe, {}, 'auth:pur-4')]);
    const outcomes = [a, b].map((r) =>
      r.status === 'fulfilled' ? 'ok' : (r.reason as Stripe.errors.StripeError).code,
    );
    expect(outcomes.sort()).toEqual(['idempotency_key_in_use', 'ok']);
    const conflict = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(conflict.reason).toMatchObject({ statusCode: 409 });
  });
});

describe('Faults', () => {
  it('500 raises StripeAPIError; with maxNetworkRetries the SDK retries with the same key and recovers', async () => {
    await server.control.fault({ kind: 'api_error', method: 'POST', path: '/v1/payment_intents' });
    const err = await rejection(authorize(sdk(0)));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);

    await server.control.fault({ kind: 'api_error', method: 'POST', path: '/v1/payment_intents' });
    const pi = await authorize(sdk(2));
    expect(pi.status).toBe('requires_capture');
    const creates = (await server.control.requests()).filter((r) => r.method === 'POST').slice(1);
    expect(creates.map((r) => r.status)).toEqual([500, 200]);
    expect(creates[0]!.idempotency_key).toBe(creates[1]!.idempotency_key);
    expect((await server.control.ledger()).payment_intents).toHaveLength(1);
  });

  it('429 rate_limit raises StripeRateLimitError; a 429 lock_timeout is retried by the SDK', async () => {
    const stripe = sdk(2);
    const pi = await authorize(stripe);
    await server.control.fault({ kind: 'rate_limit', path: '/v1/payment_intents/*/capture' });
    const limited = await rejection(stripe.paymentIntents.capture(pi.id));
    expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(limited).toMatchObject({ statusCode: 429, code: 'rate_limit' });

    await server.control.fault({ kind: 'lock_timeout', path: '/v1/payment_intents/*/capture' });
    expect((await stripe.paymentIntents.capture(pi.id)).status).toBe('succeeded');
    const captures = (await server.control.requests()).filter((r) => r.path.endsWith('/capture'));
    expect(captures.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('a dropped answer after the work: the PaymentIntent exists and a retry with the same key answers it', async () => {
    // stripe-node retries a closed connection once even with maxNetworkRetries 0: drop both answers.
    await server.control.fault({ kind: 'drop', method: 'POST', path: '/v1/payment_intents', count: 2 });
    const lost = await rejection(authorize(sdk(0), {}, 'auth:pur-5'));
    expect(lost).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const { payment_intents } = await server.control.ledger();
    expect(payment_intents).toHaveLength(1);
    expect(payment_intents[0]!.status).toBe('requires_capture');

    const retried = await authorize(sdk(0), {}, 'auth:pur-5');
    expect(retried.id).toBe(payment_intents[0]!.id);
    expect(retried.lastResponse.headers['idempotent-replayed']).toBe('true');
  });

  it('a missing or non-test API key raises StripeAuthenticationError', async () => {
    const bad = new Stripe('sk_live_nope', { host: server.host, port: server.port, protocol: 'http' });
    const err = await rejection(bad.paymentIntents.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });
});

describe('Search and lists', () => {
  it("finds PaymentIntents by metadata['purchase_id'] and pages lists newest first", async () => {
    const stripe = sdk();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const pi = await stripe.paymentIntents.create({
        amount: 1000 + i,
        currency: 'usd',
        metadata: { purchase_id: `p-${i}` },
      });
      ids.push(pi.id);
    }
    const found = await stripe.paymentIntents.search({ query: "metadata['purchase_id']:'p-3'" });
    expect(found.data.map((p) => p.id)).toEqual([ids[3]]);
    const both = await stripe.paymentIntents.search({
      query: "metadata['purchase_id']:'p-1' OR amount>=1004",
      limit: 1,
    });
    expect(both).toMatchObject({ object: 'search_result', has_more: true });
    expect(both.data[0]!.id).toBe(ids[4]);
    const bad = await rejection(stripe.paymentIntents.search({ query: "nonsense:'x'" }));
    expect(bad).toMatchObject({ statusCode: 400, param: 'query' });

    const page1 = await stripe.paymentIntents.list({ limit: 2 });
    expect(page1).toMatchObject({ object: 'list', has_more: true, url: '/v1/payment_intents' });
    expect(page1.data.map((p) => p.id)).toEqual([ids[4], ids[3]]);
    const page2 = await stripe.paymentIntents.list({ limit: 2, starting_after: ids[3] });
    expect(page2.data.map((p) => p.id)).toEqual([ids[2], ids[1]]);
    const back = await stripe.paymentIntents.list({ limit: 2, ending_before: ids[1] });
    expect(back.data.map((p) => p.id)).toEqual([ids[3], ids[2]]);
    const all = await stripe.paymentIntents.list({ limit: 2 }).autoPagingToArray({ limit: 100 });
    expect(all.map((p) => p.id)).toEqual([...ids].reverse());
    const since = await stripe.paymentIntents.list({ created: { gte: all[0]!.created + 1 } });
    expect(since.data).toEqual([]);
  });
});

describe('Webhooks', () => {
  it('sends Stripe-signed events that constructEvent verifies, in order, with the request that caused them', async () => {
    const stripe = sdk();
    const hook = await receiver();
    try {
      const { secret } = await server.control.addWebhookEndpoint({ url: hook.url });
      const pi = await authorize(stripe, {}, 'auth:pur-6');
      await eventually('three events', () => hook.received.length >= 3);
      const events = hook.received.map((r) => stripe.webhooks.constructEvent(r.body, r.signature, secret));
      expect(events.map((e) => e.type)).toEqual([
        'payment_intent.created',
        'charge.succeeded',
        'payment_intent.amount_capturable_updated',
      ]);
      const authorized = events[2]!;
      expect(authorized).toMatchObject({
        object: 'event',
        livemode: false,
        api_version: Stripe.API_VERSION,
        request: { idempotency_key: 'auth:pur-6' },
        data: { object: { id: pi.id, status: 'requires_capture' } },
      });
      expect(authorized.id).toMatch(/^evt_/);
      expect(hook.received[0]!.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      await eventually(
        'delivery recorded',
        async () => (await stripe.events.retrieve(authorized.id)).pending_webhooks === 0,
      );
      const listed = await stripe.events.list({
        type: 'payment_intent.amount_capturable_updated',
        delivery_success: true,
      });
      expect(listed.data.map((e) => e.id)).toEqual([authorized.id]);
    } finally {
      await hook.close();
    }
  });

  it('twice sends each event twice; out_of_order holds them and sends newest first; late sends them late', async () => {
    const stripe = sdk();
    const hook = await receiver();
    try {
      const endpoint = await server.control.addWebhookEndpoint({ url: hook.url, mode: 'twice' });
      await stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
      await eventually('a duplicate', () => hook.received.length === 2);
      const [one, two] = hook.received.map((r) => JSON.parse(r.body) as Stripe.Event);
      expect(two!.id).toBe(one!.id);
      expect(two!.data.object).toEqual(one!.data.object);

      hook.received.length = 0;
      await server.control.webhookMode('out_of_order', { delay_ms: 5_000, endpoint_id: endpoint.id });
      await authorize(stripe);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hook.received).toHaveLength(0);
      expect(await server.control.flushWebhooks()).toBe(3);
      await eventually('the held events', () => hook.received.length === 3);
      expect(types(hook)).toEqual([
        'payment_intent.amount_capturable_updated',
        'charge.succeeded',
        'payment_intent.created',
      ]);

      hook.received.length = 0;
      await server.control.webhookMode('late', { delay_ms: 300 });
      await stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hook.received).toHaveLength(0);
      await eventually('the late event', () => hook.received.length === 1);
    } finally {
      await hook.close();
    }
  });

  it('a bad signature and a stale timestamp fail constructEvent; never drops; redeliver sends again', async () => {
    const stripe = sdk();
    const secret = 'whsec_test_receiver';
    const refusals: unknown[] = [];
    const verified = (body: string, sig: string) => {
      try {
        stripe.webhooks.constructEvent(body, sig, secret);
        return true;
      } catch (err) {
        refusals.push(err);
        return false;
      }
    };
    const hook = await receiver(verified);
    try {
      const only = ['payment_intent.created'];
      await server.control.addWebhookEndpoint({ url: hook.url, secret, mode: 'bad_signature', enabled_events: only });
      await stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
      await eventually('a rejected delivery', async () => (await server.control.deliveries())[0]?.status === 400);

      await server.control.webhookMode('stale');
      await stripe.paymentIntents.create({ amount: 800, currency: 'usd' });
      await eventually('a stale delivery', async () => (await server.control.deliveries())[1]?.status === 400);
      const t = Number(/t=(\d+)/.exec(hook.received[1]!.signature)![1]);
      expect(Date.now() / 1000 - t).toBeGreaterThan(300);
      expect(refusals).toHaveLength(2);
      for (const err of refusals) expect(err).toBeInstanceOf(Stripe.errors.StripeSignatureVerificationError);
      expect((refusals[1] as Error).message).toMatch(/tolerance/);

      await server.control.webhookMode('never');
      const dropped = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
      const [event] = (await stripe.events.list({ type: 'payment_intent.created', limit: 1 })).data;
      expect(event!.data.object).toMatchObject({ id: dropped.id });
      expect((await server.control.deliveries({ event_id: event!.id }))[0]).toMatchObject({ status: null, ok: false });
      expect(hook.received).toHaveLength(2);
      expect((await stripe.events.list({ delivery_success: false })).data).toHaveLength(3);

      await server.control.redeliver(event!.id);
      await eventually('the redelivery', () => hook.received.length === 3);
      expect(verified(hook.received[2]!.body, hook.received[2]!.signature)).toBe(true);
    } finally {
      await hook.close();
    }
  });
});
