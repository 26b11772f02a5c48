import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import { visa, type Customer } from './helpers/customer.js';
import { providerPaymentOf } from './helpers/gateway.js';
import { newPartnerSecret, startTestPartner, type TestPartner } from './helpers/partner.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/*
 * Provisioning that takes a while (contract §5.1): the partner answers 202 and calls back, signed,
 * at <PUBLIC_URL>/webhooks/partners/<provisionedId>. What the customer, the partner and the
 * operator see, for each answer the partner can give and each callback the route can get.
 */

/** A product its partner provisions: `vm` waits a minute for the callback, `vm-quick` 2 s, `unsigned-vm` has no secret. */
const catalog = (url: string): Product[] =>
  (
    [
      ['vm', { url, secretEnv: 'PARTNER_VM_SECRET', callbackTimeoutS: 60 }],
      ['vm-quick', { url, secretEnv: 'PARTNER_VM_SECRET', callbackTimeoutS: 2 }],
      ['unsigned-vm', { url }],
    ] as const
  ).map(([id, integration]) => ({
    id,
    name: `Virtual machine (${id})`,
    price: { amount: 1500, currency: 'USD' },
    stock: 1000,
    dependencies: [],
    integration,
  }));

describe('Feature: partners that provision asynchronously', () => {
  let partner: TestPartner;
  let sys: TestSystem;
  beforeAll(async () => {
    // A partner with a secret refuses unsigned calls; `unsigned-vm` calls it unsigned, so it takes those.
    partner = await startTestPartner({ secret: newPartnerSecret(), acceptUnsigned: true });
    sys = await startTestSystem({
      catalog: catalog(partner.url),
      // Only a callback or a deadline wakes a waiting purchase in these tests.
      env: { PARTNER_VM_SECRET: partner.secret!, WAIT_CHECK_MS: '120000', SYNC_TIMEOUT_MS: '30000' },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await partner?.stop();
  });
  beforeEach(() => partner.set('ok'));

  const buyAsync = async (customer: Customer, productId = 'vm') => {
    const res = await customer.purchase({ items: [{ productId, quantity: 1 }], payment: visa }, { async: true });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const provisionCall = (purchaseId: string) =>
    partner.calls.find((c) => c.body?.purchaseId === purchaseId && c.body?.event === 'provision')!;
  /** The purchase's view once its provisioning step waits for the partner. */
  const waitingAtPartner = (customer: Customer, id: string) =>
    vi.waitFor(
      async () => {
        const view = await customer.purchaseState(id);
        expect(view.steps.find((s: any) => s.name === 'provisioning').status).toBe('waiting');
        return view;
      },
      { timeout: 10_000, interval: 50 },
    );

  it('202, then the signed callback "active": the unit is established and the purchase completes', async () => {
    partner.set({ async: 'never' });
    const customer = await sys.customer();
    const id = await buyAsync(customer);
    const waiting = await waitingAtPartner(customer, id);
    expect(waiting.status).toBe('processing');
    expect(waiting.steps.find((s: any) => s.name === 'provisioning').until).toEqual(expect.any(String));
    // The partner was told where to call back, in a signed call it verified.
    const call = provisionCall(id);
    expect(call).toMatchObject({ status: 202, signature: 'valid' });
    expect(call.body.callbackUrl).toBe(`${sys.gatewayUrl}/webhooks/partners/${call.body.provisionedId}`);
    const [unit] = await customer.provisioned();
    expect(unit).toMatchObject({ id: call.body.provisionedId, status: 'active', integration: { status: 'pending' } });
    expect(Object.keys(unit.integration).sort()).toEqual(['externalRef', 'status']);

    const answer = await partner.callBack(call, { status: 'active', externalRef: 'vm-42' });
    expect(answer.status).toBe(204);
    const done = await customer.waitForTerminal(id, 15_000);
    expect(done).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 1500 } });
    expect(await customer.provisioned()).toMatchObject([
      { status: 'active', integration: { status: 'established', externalRef: 'vm-42' } },
    ]);
    // The same callback again: taken already, nothing twice.
    expect((await partner.callBack(call, { status: 'active', externalRef: 'vm-42' })).status).toBe(204);
    const notes = (await customer.notifications()).filter((n: any) => n.purchaseId === id);
    expect(notes.filter((n: any) => n.type === 'product_provisioned')).toHaveLength(1);
  });

  it('the partner calls back by itself after a while, twice: taken once, the purchase completes', async () => {
    partner.set({ async: { after: 300, outcome: 'active', times: 2 } });
    const customer = await sys.customer();
    const res = await customer.purchase({ items: [{ productId: 'vm', quantity: 1 }], payment: visa });
    // A sync purchase waits for the callback like any slow step.
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed' });
    const id = res.body.id as string;
    const mine = partner.callbacks.filter((c) => c.provisionedId === provisionCall(id).body.provisionedId);
    expect(mine.map((c) => c.status)).toEqual([204, 204]);
    expect(await customer.orders()).toHaveLength(1);
  });

  it('the callback "failed": purchase_failed, money first, and the unit deprovisioned at the partner', async () => {
    partner.set({ async: { after: 200, outcome: 'failed', reason: 'no capacity in region' } });
    const customer = await sys.customer();
    const id = await buyAsync(customer);
    const done = await customer.waitForSettled(id, 15_000);
    expect(done).toMatchObject({
      status: 'failed',
      error: { code: 'purchase_failed', step: 'provisioning' },
      payment: { status: 'voided' },
    });
    expect(done.error.detail).toContain('no capacity in region');
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', captured: 0 });
    expect(await customer.orders()).toEqual([]);
    const unitId = provisionCall(id).body.provisionedId;
    await vi.waitFor(async () => expect((await customer.provisioned())[0]?.status).toBe('deprovisioned'), {
      timeout: 10_000,
      interval: 50,
    });
    const deprovision = partner.calls.find((c) => c.body?.provisionedId === unitId && c.body?.event === 'deprovision');
    expect(deprovision).toMatchObject({ status: 200, signature: 'valid' });
    // Its word sent again (a partner that missed our 204 retries): taken already, answered 204; another word is refused.
    const again = await partner.callBack(provisionCall(id), { status: 'failed', reason: 'no capacity in region' });
    expect(again.status).toBe(204);
    expect((await partner.callBack(provisionCall(id), { status: 'active' })).status).toBe(409);
    expect(await customer.provisioned()).toMatchObject([
      { status: 'deprovisioned', integration: { status: 'failed' } },
    ]);
  });

  it('no callback by callbackTimeoutS: purchase_failed money first; a callback after the deadline changes nothing', async () => {
    partner.set({ async: 'never' });
    const customer = await sys.customer();
    const id = await buyAsync(customer, 'vm-quick');
    const done = await customer.waitForSettled(id, 20_000);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'purchase_failed' }, payment: { status: 'voided' } });
    expect(done.error.detail).toContain('in time');
    const late = await partner.callBack(provisionCall(id), { status: 'active' });
    expect(late.status).toBe(409);
    expect(late.answer).toMatchObject({ code: 'not_cancelable' });
    expect((await customer.purchaseState(id)).status).toBe('failed');
    expect(await customer.orders()).toEqual([]);
  });

  it('a forged, unsigned or stale callback is refused (400 invalid_signature) and changes nothing', async () => {
    partner.set({ async: 'never' });
    const customer = await sys.customer();
    const id = await buyAsync(customer);
    await waitingAtPartner(customer, id);
    const call = provisionCall(id);
    for (const signing of ['bad', 'unsigned'] as const) {
      const refused = await partner.callBack(call, { status: 'failed', reason: 'forged' }, { signing });
      expect(refused.status).toBe(400);
      expect(refused.answer).toMatchObject({ code: 'invalid_signature' });
    }
    const stale = await partner.callBack(call, { status: 'failed' }, { timestamp: new Date(Date.now() - 10 * 60_000) });
    expect(stale.status).toBe(400);
    expect((await customer.provisioned())[0]).toMatchObject({ integration: { status: 'pending' } });
    expect((await customer.purchaseState(id)).status).toBe('processing');
    // The partner's own word still goes through.
    expect((await partner.callBack(call, { status: 'active' })).status).toBe(204);
    expect(await customer.waitForTerminal(id, 15_000)).toMatchObject({ status: 'completed' });
  });

  it('answers 404 for an unknown unit and 400 validation_error for a malformed body', async () => {
    const secret = new Webhook(partner.secret!);
    const post = (url: string, payload: string) => {
      const at = new Date();
      return fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'msg_test',
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': secret.sign('msg_test', at, payload),
        },
        body: payload,
      });
    };
    const unknown = await post(`${sys.gatewayUrl}/webhooks/partners/unit-that-does-not-exist`, '{"status":"active"}');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'not_found' });

    partner.set({ async: 'never' });
    const customer = await sys.customer();
    const id = await buyAsync(customer);
    await waitingAtPartner(customer, id);
    const malformed = await post(provisionCall(id).body.callbackUrl, '{"status":"done"}');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: 'validation_error' });
    expect((await customer.provisioned())[0]).toMatchObject({ integration: { status: 'pending' } });
  });

  it('a partner without a secret that answers 202 fails the purchase at once: its callback could never be verified', async () => {
    partner.set({ async: 'never' });
    const customer = await sys.customer();
    const id = await buyAsync(customer, 'unsigned-vm');
    const done = await customer.waitForSettled(id, 15_000);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'purchase_failed' }, payment: { status: 'voided' } });
    expect(done.error.detail).toContain('cannot report back');
  });
});
