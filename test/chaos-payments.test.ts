import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { startStripeServer, type StripeServer } from '../harness/stripe/index.js';
import type { Product } from '../src/catalog/catalog-file.js';
import { orderIdFor } from '../src/ids.js';
import { postPurchase } from './helpers/gateway.js';
import { startTestPartner, type TestPartner } from './helpers/partner.js';
import { startProcesses, type ProcessDeployment } from './helpers/processes.js';

/*
 * Chaos with real money movements: the system pays through its Stripe adapter (the official SDK)
 * against the local Stripe-compatible server, every process is a real one, and kill -9 lands while
 * Stripe holds a request. Each scenario ends with the §8 invariants, Stripe's ledger included:
 * one PaymentIntent per purchase, captured for the order total when an order was placed; otherwise
 * voided, or (captured at the pivot, the order then never placed) refunded in full; nothing left held.
 */

const SECRET_KEY = 'sk_test_chaos';
const WEBHOOK_SECRET = 'whsec_chaospaymentstestsecret0123456789';
/** Widgets are sold; gadgets fail at their partner, after their authorization, so their holds must be voided. */
const catalog = (partnerUrl: string): Product[] => [
  { id: 'widget', name: 'Widget', price: { amount: 250, currency: 'USD' }, stock: 100_000, dependencies: [] },
  {
    id: 'gadget',
    name: 'Gadget',
    price: { amount: 400, currency: 'USD' },
    stock: 100_000,
    dependencies: [],
    integration: { url: partnerUrl },
  },
];
const report = (scenario: string, figures: Record<string, unknown>) =>
  console.log(`CHAOS ${scenario} ${JSON.stringify(figures)}`);

describe('chaos: money under kill -9, paying through Stripe', () => {
  let stripeServer: StripeServer;
  let stripe: Stripe;
  let deployment: ProcessDeployment | undefined;
  let partner: TestPartner;
  beforeAll(async () => {
    stripeServer = await startStripeServer();
    // It refuses every unit it is asked for and removes what it is asked to remove.
    partner = await startTestPartner({ secret: null, behaviour: 'fail' });
    partner.set('ok', { event: 'deprovision' });
    stripe = new Stripe(SECRET_KEY, { host: stripeServer.host, port: stripeServer.port, protocol: 'http' });
  });
  afterEach(async () => {
    await deployment?.stop();
    deployment = undefined;
    await stripeServer.control.reset();
  });
  afterAll(async () => {
    await stripeServer?.stop();
    await partner?.stop();
  });

  const start = (env: Record<string, string> = {}) =>
    startProcesses({
      catalog: catalog(partner.url),
      workers: 2,
      env: {
        PAYMENT_PROVIDER: 'stripe',
        STRIPE_SECRET_KEY: SECRET_KEY,
        STRIPE_API_BASE: stripeServer.url,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ...env,
      },
    });

  /** Every PaymentIntent Stripe holds, by the purchase its metadata names. */
  async function intentsByPurchase(): Promise<Map<string, Stripe.PaymentIntent[]>> {
    const byPurchase = new Map<string, Stripe.PaymentIntent[]>();
    for await (const pi of stripe.paymentIntents.list({ limit: 100 })) {
      const id = pi.metadata.purchase_id!;
      byPurchase.set(id, [...(byPurchase.get(id) ?? []), pi]);
    }
    return byPurchase;
  }

  it('workers kill -9ed while Stripe holds their authorize, capture and void calls: one PaymentIntent each, captured exactly when ordered', async () => {
    const c = (deployment = await start());
    // Every PaymentIntent call takes a while, so a kill lands inside one: processed at Stripe, unanswered.
    await stripeServer.control.latency(150, { path: '/v1/payment_intents/**' });
    const customers = await Promise.all(Array.from({ length: 8 }, (_, i) => c.customer(`money-${i}`)));
    const total = 48;
    let next = 0;
    let kills = 0;
    const accepted: string[] = [];
    const buying = Promise.all(
      customers.map(async (customer) => {
        while (next < total) {
          const i = next++;
          const res = await postPurchase(
            c.gatewayUrl,
            `Bearer ${customer.token}`,
            {
              items: [{ productId: i % 3 === 0 ? 'gadget' : 'widget', quantity: 1 }],
              payment: { token: 'pm_card_visa' },
            },
            { prefer: 'respond-async', 'idempotency-key': `money-${i}` },
          );
          expect(res.status).toBe(202);
          accepted.push((res.body as { id: string }).id);
        }
      }),
    );
    // A supervisor's restarts: the oldest workers process is killed every 1.5 s while purchases flow.
    const killing = (async () => {
      for (let k = 0; k < 4; k++) {
        await new Promise((r) => setTimeout(r, 1_500));
        await c.workers.shift()!.kill9();
        kills++;
        await c.addWorkers();
      }
    })();
    await Promise.all([buying, killing]);
    const audit = await c.settle(120_000);

    const intents = await intentsByPurchase();
    const byStatus: Record<string, number> = {};
    const wrong: string[] = [];
    for (const id of accepted) {
      const record = await c.stores.purchases.get(id);
      byStatus[record?.status ?? 'missing'] = (byStatus[record?.status ?? 'missing'] ?? 0) + 1;
      const mine = intents.get(id) ?? [];
      const order = await c.stores.orders.get(orderIdFor(id));
      const [pi] = mine;
      if (mine.length !== 1) wrong.push(`${id}: ${mine.length} PaymentIntents`);
      else if (order && (pi!.status !== 'succeeded' || pi!.amount_received !== order.total.amount))
        wrong.push(`${id}: ordered, PaymentIntent ${pi!.status} received ${pi!.amount_received}`);
      else if (!order && pi!.status !== 'canceled') {
        // Captured at the pivot, then the order never placed (its job crashed past its stall limit): refunded in full.
        const refunded = (await stripe.refunds.list({ payment_intent: pi!.id, limit: 10 })).data
          .filter((r) => r.status === 'succeeded')
          .reduce((n, r) => n + r.amount, 0);
        if (pi!.status !== 'succeeded' || refunded !== pi!.amount_received)
          wrong.push(
            `${id}: no order, PaymentIntent ${pi!.status} received ${pi!.amount_received} refunded ${refunded}`,
          );
      } else if (!order && pi!.amount_received !== 0)
        wrong.push(`${id}: no order, PaymentIntent canceled having received ${pi!.amount_received}`);
    }
    const requests = await stripeServer.control.requests();
    report('stripe-kill-workers', {
      purchases: total,
      kills,
      byStatus,
      paymentIntents: [...intents.values()].flat().length,
      replayedRequests: requests.filter((r) => r.replayed).length,
      violations: audit.violations,
      figures: audit.figures,
    });

    expect(kills).toBe(4);
    expect(accepted).toHaveLength(total);
    expect(wrong).toEqual([]);
    expect(audit.violations).toEqual([]);
    // Every gadget fails at its partner; a widget may too, when kills hit its job past the stall limit.
    expect(byStatus.missing ?? 0).toBe(0);
    expect(byStatus.failed ?? 0).toBeGreaterThanOrEqual(total / 3);
    expect(byStatus.completed ?? 0).toBeGreaterThanOrEqual(total / 2);
  }, 180_000);

  it("the gateway kill -9ed between a webhook's receipt and its effect: Stripe's retry still wakes the purchase", async () => {
    // The purchase would check Stripe by itself only after 2 minutes: here, only a webhook can wake it in time.
    const c = (deployment = await start({ WAIT_CHECK_MS: '120000', PAYMENT_ACTION_TIMEOUT_S: '600' }));
    await stripeServer.control.addWebhookEndpoint({ url: `${c.gatewayUrl}/webhooks/stripe`, secret: WEBHOOK_SECRET });
    const customer = await c.customer('webhook-crash');
    const res = await customer.purchase({
      items: [{ productId: 'widget', quantity: 1 }],
      payment: { token: 'pm_card_authenticationRequired', returnUrl: 'https://shop.example/back' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id: string = res.body.id;
    const [pi] = (await intentsByPurchase()).get(id)!;
    expect(pi!.status).toBe('requires_action');

    // Redis frozen: the gateway takes the webhook, verifies it, and stops at its first Redis command.
    c.redisServer.signal('SIGSTOP');
    try {
      await stripeServer.control.authenticate(pi!.id, 'complete');
      await new Promise((r) => setTimeout(r, 1_000));
      await c.gateway.kill9();
    } finally {
      c.redisServer.signal('SIGCONT');
    }
    await c.restartGateway();
    // Stripe got no 2xx for its events: it sends them again, as it retries any event it got no 2xx for.
    const unanswered = (await stripeServer.control.deliveries()).filter((d) => !d.ok);
    expect(unanswered.length).toBeGreaterThan(0);
    for (const d of unanswered) await stripeServer.control.redeliver(d.event_id);

    const done = await customer.waitForTerminal(id, 20_000);
    expect(done).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 250 } });
    await eventually('the redelivered events taken', async () =>
      (await stripeServer.control.deliveries()).some((d) => d.ok),
    );
    const audit = await c.settle(30_000);
    expect(audit.violations).toEqual([]);
    expect((await intentsByPurchase()).get(id)).toMatchObject([{ status: 'succeeded', amount_received: 250 }]);
  }, 120_000);
});
