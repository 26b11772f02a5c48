import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeServer, type StripeServer } from '../harness/stripe/index.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/*
 * A purchase paid through Stripe end to end (PAYMENT_PROVIDER=stripe): the system's adapter on the
 * official SDK against the local Stripe-compatible server (a process of its own), Stripe's webhooks
 * signed and delivered to the gateway's /webhooks/stripe. What the customer sees, and what Stripe
 * holds, per purchase.
 */

const SECRET_KEY = 'sk_test_purchases';
const WEBHOOK_SECRET = 'whsec_purchasesystemtestsecret0123456789';

describe('Feature: paying through Stripe', () => {
  let stripeServer: StripeServer;
  let sys: TestSystem;
  let stripe: Stripe;
  beforeAll(async () => {
    stripeServer = await startStripeServer();
    sys = await startTestSystem({
      env: {
        PAYMENT_PROVIDER: 'stripe',
        STRIPE_SECRET_KEY: SECRET_KEY,
        STRIPE_API_BASE: stripeServer.url,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        // A waiting purchase checks by itself only every minute: in these tests, the webhook wakes it.
        WAIT_CHECK_MS: '60000',
        SYNC_TIMEOUT_MS: '60000',
      },
    });
    await stripeServer.control.addWebhookEndpoint({ url: `${sys.gatewayUrl}/webhooks/stripe`, secret: WEBHOOK_SECRET });
    stripe = new Stripe(SECRET_KEY, { host: stripeServer.host, port: stripeServer.port, protocol: 'http' });
  });
  afterAll(async () => {
    await sys?.stop();
    await stripeServer?.stop();
  });

  /** The purchase's PaymentIntent as Stripe holds it (found by its metadata, as the reconciliation does). */
  async function intentOf(purchaseId: string) {
    const found = (await stripe.paymentIntents.list({ limit: 100 })).data.filter(
      (pi) => pi.metadata.purchase_id === purchaseId,
    );
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  const basic = (token: string, returnUrl?: string) => ({
    items: [{ productId: 'basic-plan', quantity: 1 }],
    payment: { token, ...(returnUrl ? { returnUrl } : {}) },
  });

  it('a card that authorizes: one PaymentIntent, captured at the pivot for the order total', async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(basic('pm_card_visa'));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 999 } });
    const pi = await intentOf(res.body.id);
    expect(pi).toMatchObject({ status: 'succeeded', capture_method: 'manual', amount: 999, amount_received: 999 });
    const [order] = await customer.orders();
    expect(order.total.amount).toBe(pi.amount_received);
  });

  it('a declined card: payment_failed, nothing held at Stripe', async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(basic('pm_card_chargeDeclined'));
    expect(res.status).toBe(402);
    expect(res.body).toMatchObject({ code: 'payment_failed' });
    const pi = await intentOf(res.body.purchaseId);
    expect(pi.amount_received).toBe(0);
    expect(['requires_payment_method', 'canceled']).toContain(pi.status);
  });

  it('a failure after the authorization voids it at Stripe: the PaymentIntent canceled, nothing taken', async () => {
    const customer = await sys.customer();
    expect((await sys.admin('POST', '/admin/faults', { point: 'order.place', times: 10 })).status).toBe(201);
    try {
      const res = await customer.purchase(basic('pm_card_visa'));
      expect(res.status).toBe(502);
      const state = await customer.waitForSettled(res.body.purchaseId);
      expect(state.payment).toMatchObject({ status: 'voided', amount: 999 });
      expect(await intentOf(res.body.purchaseId)).toMatchObject({ status: 'canceled', amount_received: 0 });
    } finally {
      await sys.admin('DELETE', '/admin/faults');
    }
  });

  it("3-D Secure without a returnUrl: Stripe's page still, which sends the customer back to the gateway's page", async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(basic('pm_card_authenticationRequired'));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.payment.nextAction.url).toMatch(new RegExp(`^${stripeServer.url}/`));
    const pi = await stripe.paymentIntents.retrieve((await intentOf(res.body.id)).id);
    const back = pi.next_action?.redirect_to_url?.return_url;
    expect(back).toBe(`${sys.gatewayUrl}/pay/done`);
    const page = await fetch(back!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('you can close it');
    await stripeServer.control.authenticate(pi.id, 'complete');
    expect(await customer.waitForTerminal(res.body.id, 20_000)).toMatchObject({ status: 'completed' });
  });

  it("3-D Secure: 202 with Stripe's page; the customer completes it, Stripe's webhook wakes the purchase, it completes", async () => {
    const customer = await sys.customer();
    const res = await customer.purchase(basic('pm_card_authenticationRequired', 'https://shop.example/back'));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ status: 'requires_action', payment: { status: 'requires_action' } });
    expect(res.body.payment.nextAction.url).toMatch(new RegExp(`^${stripeServer.url}/`));
    const pi = await intentOf(res.body.id);
    expect(pi.status).toBe('requires_action');
    await stripeServer.control.authenticate(pi.id, 'complete');
    const done = await customer.waitForTerminal(res.body.id, 20_000);
    expect(done).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 999 } });
    expect(await intentOf(res.body.id)).toMatchObject({ status: 'succeeded', amount_received: 999 });
    // Stripe's events reached the gateway signed and were taken (2xx).
    const deliveries = await stripeServer.control.deliveries();
    expect(deliveries.some((d) => d.ok)).toBe(true);
  });
});
