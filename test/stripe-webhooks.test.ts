import { randomUUID } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../harness/free-port.js';
import { startTestRedis, type TestRedis } from '../harness/redis-server.js';
import { startStripeServer, type DeliveryMode, type StripeServer } from '../harness/stripe/index.js';
import { stripeWebhookRoutes } from '../src/api/routes/stripe-webhooks.js';
import { problemOnError } from '../src/http/problem.js';
import { apiApp } from '../src/http/validation.js';
import { createKeys } from '../src/keys.js';
import { createLogger } from '../src/logger.js';

/*
 * POST /webhooks/stripe mounted alone in a minimal app (the gateway's problem rendering), on real HTTP, real Redis,
 * fed real signed deliveries by the local Stripe server (harness/stripe) driven through the official SDK. Every test
 * starts from a reset Stripe server, an empty Redis and an empty wake log, and registers its own endpoint.
 */

const SECRET = 'whsec_webhook_route_test';
const RETURN_URL = 'https://shop.example/payment-return';
const keys = createKeys('whtest');

let redisServer: TestRedis;
let redis: Redis;
let stripeServer: StripeServer;
let stripe: Stripe;
let http: ServerType;
let base: string;

/** The purchase ids `wake` was called with, in order; `failingWakes` makes the next ones throw. */
const woken: string[] = [];
let failingWakes = 0;
/** What the route answered, in order. */
const answers: Array<{ status: number; body: Record<string, unknown> }> = [];
/** Deliveries sent to `/capture` (not the route): raw bodies and signatures to replay by hand. */
const captured: Array<{ body: string; signature: string }> = [];

beforeAll(async () => {
  [redisServer, stripeServer] = await Promise.all([startTestRedis(), startStripeServer()]);
  redis = new Redis(redisServer.url);
  stripe = new Stripe('sk_test_x', { host: stripeServer.host, port: stripeServer.port, protocol: 'http' });

  const log = createLogger('silent');
  const app = apiApp();
  app.onError(problemOnError(log));
  app.use('/webhooks/*', async (c, next) => {
    await next();
    answers.push({ status: c.res.status, body: (await c.res.clone().json()) as Record<string, unknown> });
  });
  app.post('/capture', async (c) => {
    captured.push({ body: await c.req.text(), signature: c.req.header('stripe-signature') ?? '' });
    return c.body(null, 204);
  });
  const wake = async (purchaseId: string) => {
    if (failingWakes > 0) {
      failingWakes--;
      throw new Error('the queue is down');
    }
    woken.push(purchaseId);
  };
  app.route('/webhooks', stripeWebhookRoutes({ secret: SECRET, redis, keys, wake, log }));
  const port = await freePort();
  http = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  base = `http://127.0.0.1:${port}`;
}, 30_000);

afterAll(async () => {
  await new Promise((resolve) => http?.close(resolve));
  await stripeServer?.stop();
  await redis?.quit();
  await redisServer?.stop();
});

beforeEach(async () => {
  await stripeServer.control.reset();
  await redis.flushdb();
  await redis.config('RESETSTAT');
  woken.length = 0;
  answers.length = 0;
  captured.length = 0;
  failingWakes = 0;
});

const endpoint = (mode: DeliveryMode = 'normal', extra: { delay_ms?: number; path?: string } = {}) =>
  stripeServer.control.addWebhookEndpoint({
    url: `${base}${extra.path ?? '/webhooks/stripe'}`,
    secret: SECRET,
    mode,
    delay_ms: extra.delay_ms,
  });

const purchaseId = () => `pur-${randomUUID()}`;

/** Waits until `n` deliveries were answered (or failed), and answers them. */
async function delivered(n: number) {
  await expect.poll(async () => (await stripeServer.control.deliveries()).length, { timeout: 5_000 }).toBe(n);
  return stripeServer.control.deliveries();
}

/** Write commands Redis executed since the test began (SET, DEL, …), from INFO commandstats. */
async function writes(): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const counts: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(set|del|unlink|setex|expire|hset|incr):calls=(\d+)/gm)) {
    counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

describe('POST /webhooks/stripe', () => {
  it('a signed event wakes the purchase its PaymentIntent names, once, and remembers the event id', async () => {
    await endpoint();
    const pid = purchaseId();
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: pid } });

    const [delivery] = await delivered(1);
    expect(delivery).toMatchObject({ type: 'payment_intent.created', status: 200, ok: true });
    expect(answers).toEqual([{ status: 200, body: { received: true } }]);
    expect(woken).toEqual([pid]);
    expect(await redis.ttl(keys.stripeEvent(delivery!.event_id))).toBeGreaterThan(2_591_000);
  });

  it('the same event delivered twice wakes once; the second answer says duplicate', async () => {
    await endpoint('twice');
    const pid = purchaseId();
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: pid } });

    const deliveries = await delivered(2);
    expect(deliveries[1]!.event_id).toBe(deliveries[0]!.event_id);
    expect(deliveries.map((d) => d.status)).toEqual([200, 200]);
    expect(answers.map((a) => a.body)).toEqual([{ received: true }, { received: true, duplicate: true }]);
    expect(woken).toEqual([pid]);
  });

  it('events out of order each wake the purchase: nothing in them is taken as its state', async () => {
    await endpoint('out_of_order', { delay_ms: 10_000 });
    const pid = purchaseId();
    const pi = await stripe.paymentIntents.create({
      amount: 1999,
      currency: 'usd',
      capture_method: 'manual',
      metadata: { purchase_id: pid },
    });
    await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa', return_url: RETURN_URL });
    await stripe.paymentIntents.capture(pi.id);
    expect(await stripeServer.control.flushWebhooks()).toBe(5);

    const deliveries = await delivered(5);
    expect(deliveries.every((d) => d.status === 200)).toBe(true);
    expect(deliveries.map((d) => d.type).filter((t) => t.startsWith('payment_intent.'))).toEqual([
      'payment_intent.succeeded',
      'payment_intent.amount_capturable_updated',
      'payment_intent.created',
    ]);
    // One wake per PaymentIntent event, newest first; the charge events wake nothing.
    expect(woken).toEqual([pid, pid, pid]);
  });

  it('a refund wakes the purchase its charge names; a PaymentIntent without purchase_id is acknowledged, wakes nothing, writes nothing', async () => {
    await endpoint();
    const pid = purchaseId();
    const ours = await stripe.paymentIntents.create({
      amount: 1999,
      currency: 'usd',
      confirm: true,
      payment_method: 'pm_card_visa',
      return_url: RETURN_URL,
      metadata: { purchase_id: pid },
    });
    await stripe.refunds.create({ payment_intent: ours.id });
    // created, charge.succeeded, succeeded, refund.created, charge.refunded
    await delivered(5);
    expect(woken).toEqual([pid, pid, pid]);

    await redis.flushdb();
    await redis.config('RESETSTAT');
    woken.length = 0;
    const theirs = await stripe.paymentIntents.create({
      amount: 500,
      currency: 'usd',
      confirm: true,
      payment_method: 'pm_card_visa',
      return_url: RETURN_URL,
    });
    await stripe.refunds.create({ payment_intent: theirs.id });
    const deliveries = await delivered(10);
    expect(deliveries.slice(5).map((d) => d.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.slice(5).map((a) => a.body)).toEqual(Array(5).fill({ received: true }));
    expect(woken).toEqual([]);
    expect(await redis.dbsize()).toBe(0);
    expect(await writes()).toEqual({});
  });

  it('a bad signature, a stale timestamp or none answer 400 invalid_signature and write nothing to Redis', async () => {
    const { id } = await endpoint('bad_signature');
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: purchaseId() } });
    await delivered(1);
    await stripeServer.control.webhookMode('stale', { endpoint_id: id });
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: purchaseId() } });
    const deliveries = await delivered(2);
    expect(deliveries.map((d) => [d.mode, d.status])).toEqual([
      ['bad_signature', 400],
      ['stale', 400],
    ]);
    const unsigned = await fetch(`${base}/webhooks/stripe`, { method: 'POST', body: '{"id":"evt_x"}' });
    expect(unsigned.status).toBe(400);

    expect(answers).toHaveLength(3);
    for (const a of answers) expect(a).toMatchObject({ status: 400, body: { status: 400, code: 'invalid_signature' } });
    expect(unsigned.headers.get('content-type')).toBe('application/problem+json');
    expect(woken).toEqual([]);
    expect(await redis.dbsize()).toBe(0);
    expect(await writes()).toEqual({});
  });

  it('a body edited after it was signed answers 400; the body as Stripe signed it wakes', async () => {
    await endpoint('normal', { path: '/capture' });
    const pid = purchaseId();
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: pid } });
    await delivered(1);
    const [{ body, signature }] = captured as [{ body: string; signature: string }];
    const post = (payload: string) =>
      fetch(`${base}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body: payload,
      });

    const edited = body.replace(pid, purchaseId());
    expect(edited).not.toBe(body);
    const rejected = await post(edited);
    expect(rejected.status).toBe(400);
    expect(await rejected.json()).toMatchObject({ code: 'invalid_signature' });
    expect(woken).toEqual([]);
    expect(await redis.dbsize()).toBe(0);

    const genuine = await post(body);
    expect(genuine.status).toBe(200);
    expect(woken).toEqual([pid]);
  });

  it('a wake that throws still answers 200 and forgets the event, so a redelivery wakes the purchase', async () => {
    await endpoint();
    failingWakes = 1;
    const pid = purchaseId();
    await stripe.paymentIntents.create({ amount: 1999, currency: 'usd', metadata: { purchase_id: pid } });
    const [first] = await delivered(1);
    expect(first).toMatchObject({ status: 200, ok: true });
    expect(woken).toEqual([]);
    expect(await redis.exists(keys.stripeEvent(first!.event_id))).toBe(0);

    await stripeServer.control.redeliver(first!.event_id);
    const [, again] = await delivered(2);
    expect(again).toMatchObject({ event_id: first!.event_id, status: 200 });
    expect(answers.map((a) => a.body)).toEqual([{ received: true }, { received: true }]);
    expect(woken).toEqual([pid]);
    expect(await redis.exists(keys.stripeEvent(first!.event_id))).toBe(1);
  });
});
