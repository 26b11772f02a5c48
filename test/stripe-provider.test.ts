import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startStripeServer, type StripeServer } from '../harness/stripe/index.js';
import { ProviderUnavailableError, type ProviderPayment } from '../src/adapters/payments.js';
import { StripePaymentProvider } from '../src/adapters/stripe-provider.js';
import { providerSuite } from './helpers/provider-suite.js';

/*
 * The Stripe adapter through the official SDK: the shared provider suite against the local Stripe-compatible server
 * (harness/stripe, a process of its own) and, when STRIPE_LIVE_TESTS=1 with an sk_test_ key, against Stripe's test
 * mode; then the faults only the local server can make. One server for the file; tests use fresh purchase ids.
 */

const KEY = 'sk_test_provider';
let starting: Promise<StripeServer> | undefined;
const server = () => (starting ??= startStripeServer());
afterAll(async () => {
  await (await starting)?.stop();
});

const local = async (opts: { secretKey?: string; maxNetworkRetries?: number } = {}) =>
  new StripePaymentProvider({ secretKey: KEY, apiBase: (await server()).url, ...opts });

providerSuite('StripePaymentProvider on the local Stripe server', async () => {
  const { control } = await server();
  return {
    provider: await local(),
    methods: { ok: 'pm_card_visa', declined: 'pm_card_chargeDeclined', action: 'pm_card_authenticationRequired' },
    completeAction: async (id, outcome) => void (await control.authenticate(id, outcome)),
    failNextCapture: async (id) => void (await control.failNextCapture(id)),
    stop: async () => {},
  };
});

const liveKey = process.env.STRIPE_SECRET_KEY ?? '';
describe.skipIf(!(liveKey.startsWith('sk_test_') && process.env.STRIPE_LIVE_TESTS === '1'))('Stripe test mode', () => {
  providerSuite('StripePaymentProvider', async () => ({
    provider: new StripePaymentProvider({ secretKey: liveKey }),
    methods: { ok: 'pm_card_visa', declined: 'pm_card_chargeDeclined', action: 'pm_card_authenticationRequired' },
    stop: async () => {},
  }));
});

describe('StripePaymentProvider, faults of the local server', () => {
  afterEach(async () => {
    await (await server()).control.clearFaults();
  });

  function purchase() {
    const purchaseId = `pur-${randomUUID()}`;
    return { purchaseId, key: (op: string) => `${purchaseId}-${op}` };
  }

  const prepare = (provider: StripePaymentProvider, purchaseId: string, key: string, amount = 1999) =>
    provider.prepare({
      idempotencyKey: key,
      purchaseId,
      amount,
      currency: 'USD',
      description: 'fault test',
      capture: 'manual',
    });

  async function intentsOf(purchaseId: string) {
    const { payment_intents } = await (await server()).control.ledger();
    return payment_intents.filter((pi) => pi.metadata.purchase_id === purchaseId);
  }

  async function requestsWith(key: string) {
    return (await (await server()).control.requests()).filter((r) => r.idempotency_key === key);
  }

  async function rejection(p: Promise<unknown>): Promise<unknown> {
    try {
      await p;
    } catch (err) {
      return err;
    }
    throw new Error('expected the call to fail');
  }

  it('a 500 is recovered by the SDK retrying with our key: one PaymentIntent, not two', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    await (await server()).control.fault({ kind: 'api_error', method: 'POST', path: '/v1/payment_intents' });
    const payment = await prepare(provider, purchaseId, key('prepare'));
    expect(payment).toMatchObject({ state: 'created', purchaseId });
    expect((await intentsOf(purchaseId)).map((pi) => pi.id)).toEqual([payment.id]);
    const attempts = await requestsWith(key('prepare'));
    expect(attempts.map((r) => [r.status, r.fault])).toEqual([
      [500, 'api_error'],
      [200, null],
    ]);
  });

  it('a confirm processed, then its connection dropped: the SDK retry replays the saved answer', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    const { id } = await prepare(provider, purchaseId, key('prepare'));
    await (await server()).control.fault({ kind: 'drop', method: 'POST', path: `/v1/payment_intents/${id}/confirm` });
    const payment = await provider.authorize({
      idempotencyKey: key('authorize'),
      paymentId: id,
      method: 'pm_card_visa',
    });
    expect(payment).toMatchObject({ id, state: 'authorized' });
    const attempts = await requestsWith(key('authorize'));
    expect(attempts.map((r) => [r.fault, r.replayed])).toEqual([
      ['drop', false],
      [null, true],
    ]);
    expect(await intentsOf(purchaseId)).toHaveLength(1);
  });

  it('a confirm whose every answer is lost throws ProviderUnavailableError; retrieve shows it authorized', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    const { id } = await prepare(provider, purchaseId, key('prepare'));
    // The first attempt and the SDK's two retries (default maxNetworkRetries) all lose their answer.
    await (
      await server()
    ).control.fault({ kind: 'drop', method: 'POST', path: `/v1/payment_intents/${id}/confirm`, count: 3 });
    const err = await rejection(
      provider.authorize({ idempotencyKey: key('authorize'), paymentId: id, method: 'pm_card_visa' }),
    );
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as Error).cause).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const attempts = await requestsWith(key('authorize'));
    expect(attempts.map((r) => [r.fault, r.replayed])).toEqual([
      ['drop', false],
      ['drop', true],
      ['drop', true],
    ]);
    expect(await provider.retrieve(id)).toMatchObject({ state: 'authorized' });
    expect(await intentsOf(purchaseId)).toHaveLength(1);
    // The saga's retry with the same key gets the saved answer.
    expect(
      await provider.authorize({ idempotencyKey: key('authorize'), paymentId: id, method: 'pm_card_visa' }),
    ).toMatchObject({ state: 'authorized' });
  });

  it('after Stripe pruned the keys, a repeated confirm answers the state instead of failing', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    const { id } = await prepare(provider, purchaseId, key('prepare'));
    const req = { idempotencyKey: key('authorize'), paymentId: id, method: 'pm_card_visa' };
    await provider.authorize(req);
    await (await server()).control.pruneIdempotencyKeys();
    expect(await provider.authorize(req)).toMatchObject({ id, state: 'authorized' });
    expect(await intentsOf(purchaseId)).toHaveLength(1);
  });

  it('429 rate_limit is ProviderUnavailableError, and nothing happened: the same key then captures', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    const { id } = await prepare(provider, purchaseId, key('prepare'));
    await provider.authorize({ idempotencyKey: key('authorize'), paymentId: id, method: 'pm_card_visa' });
    await (await server()).control.fault({ kind: 'rate_limit', path: `/v1/payment_intents/${id}/capture` });
    const req = { idempotencyKey: key('capture'), paymentId: id };
    const err = await rejection(provider.capture(req));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as Error).cause).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(await provider.retrieve(id)).toMatchObject({ state: 'authorized' });
    expect(await provider.capture(req)).toMatchObject({ state: 'captured', captured: 1999 });
  });

  it('a 429 lock_timeout (Stripe-Should-Retry) is retried by the SDK', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    await (await server()).control.fault({ kind: 'lock_timeout', method: 'POST', path: '/v1/payment_intents' });
    expect(await prepare(provider, purchaseId, key('prepare'))).toMatchObject({ state: 'created' });
  });

  it('authentication and idempotency errors are thrown as they are: configuration or programming errors', async () => {
    const { purchaseId, key } = purchase();
    const badKey = await rejection(prepare(await local({ secretKey: 'sk_live_nope' }), purchaseId, key('prepare')));
    expect(badKey).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    const provider = await local();
    await prepare(provider, purchaseId, key('prepare'));
    const otherParams = await rejection(prepare(provider, purchaseId, key('prepare'), 2999));
    expect(otherParams).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  it('without a return URL, Stripe answers use_stripe_sdk: requires_action with no page of ours', async () => {
    const provider = await local();
    const { purchaseId, key } = purchase();
    const { id } = await prepare(provider, purchaseId, key('prepare'));
    const payment = await provider.authorize({
      idempotencyKey: key('authorize'),
      paymentId: id,
      method: 'pm_card_authenticationRequired',
    });
    expect(payment.state).toBe('requires_action');
    expect(payment.action).toBeUndefined();
  });

  it('list leaves out PaymentIntents without a purchase id (the merchant’s other sales)', async () => {
    const provider = await local();
    const since = new Date(Date.now() - 60_000);
    const { purchaseId, key } = purchase();
    const ours = await prepare(provider, purchaseId, key('prepare'));
    const sdk = new Stripe(KEY, { host: (await server()).host, port: (await server()).port, protocol: 'http' });
    const foreign = await sdk.paymentIntents.create({ amount: 500, currency: 'usd' });
    const seen: ProviderPayment[] = [];
    for await (const p of provider.list(since)) seen.push(p);
    const ids = seen.map((p) => p.id);
    expect(ids).toContain(ours.id);
    expect(ids).not.toContain(foreign.id);
  });
});
