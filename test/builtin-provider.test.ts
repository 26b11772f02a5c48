import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis } from '../harness/redis-server.js';
import { BuiltinPaymentProvider } from '../src/adapters/builtin-provider.js';
import { ProviderUnavailableError } from '../src/adapters/payments.js';
import { createKeys } from '../src/keys.js';
import { providerSuite } from './helpers/provider-suite.js';

/*
 * The built-in provider (PAYMENT_PROVIDER=builtin, the default) answers the same adapter contract as
 * Stripe's: the shared suite, on a redis-server of its own. Its 3-D Secure token comes with the
 * saga's wait for the customer, so the action cases are not offered yet.
 */
providerSuite('BuiltinPaymentProvider', async () => {
  const server = await startTestRedis();
  const redis = new Redis(server.url);
  const keys = createKeys('builtin-suite');
  return {
    provider: new BuiltinPaymentProvider(redis, keys),
    methods: { ok: 'tok_visa', declined: 'tok_declined' },
    failNextCapture: async (paymentId) => {
      const key = keys.providerPayment(paymentId);
      await redis.set(key, JSON.stringify({ ...JSON.parse((await redis.get(key))!), captureRefused: true }));
    },
    stop: async () => {
      redis.disconnect();
      await server.stop();
    },
  };
});

/*
 * Its one-call path: the saga creates and authorizes a built-in payment at once (prepareAndAuthorize),
 * since the payment is found again by the purchase alone. A second call, a retry after a lost answer,
 * moves no money and makes no second payment.
 */
describe('BuiltinPaymentProvider: prepare and authorize in one call', () => {
  let server: Awaited<ReturnType<typeof startTestRedis>>;
  let redis: Redis;
  let provider: BuiltinPaymentProvider;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    provider = new BuiltinPaymentProvider(redis, createKeys('builtin-one-call'));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const request = (purchaseId: string, method: string, capture: 'manual' | 'automatic' = 'manual') => ({
    idempotencyKey: `${purchaseId}-authorize`,
    purchaseId,
    amount: 1999,
    currency: 'USD',
    description: `purchase ${purchaseId}`,
    capture,
    method,
  });

  it('holds the money for a new purchase; again, it answers the same payment and moves nothing', async () => {
    const purchaseId = `pur_${randomUUID().replaceAll('-', '')}`;
    const held = await provider.prepareAndAuthorize(request(purchaseId, 'tok_visa'));
    expect(held).toMatchObject({ purchaseId, state: 'authorized', amount: 1999, currency: 'USD', captured: 0 });
    expect(await provider.findByPurchase(purchaseId)).toEqual(held);
    // A retry with another token, or automatic capture, cannot change what the first call decided.
    expect(await provider.prepareAndAuthorize(request(purchaseId, 'tok_declined', 'automatic'))).toEqual(held);
    const listed = [];
    for await (const p of provider.list()) if (p.purchaseId === purchaseId) listed.push(p);
    expect(listed).toEqual([held]);
  });

  it('takes the money at once under automatic capture, and fails a declined card holding nothing', async () => {
    const taken = await provider.prepareAndAuthorize(request(`pur_${randomUUID()}`, 'tok_visa', 'automatic'));
    expect(taken).toMatchObject({ state: 'captured', captured: 1999 });
    const declined = await provider.prepareAndAuthorize(request(`pur_${randomUUID()}`, 'tok_declined'));
    expect(declined).toMatchObject({ state: 'failed', reason: 'card declined', captured: 0 });
    expect(await provider.void({ paymentId: declined.id })).toMatchObject({ state: 'voided', captured: 0 });
  });

  it('creates nothing when the provider fails (tok_error): the outcome is unknown, a retry decides it', async () => {
    const purchaseId = `pur_${randomUUID()}`;
    await expect(provider.prepareAndAuthorize(request(purchaseId, 'tok_error'))).rejects.toThrow(
      ProviderUnavailableError,
    );
    expect(await provider.findByPurchase(purchaseId)).toBeUndefined();
  });
});
