import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureMethod, PaymentProvider, ProviderPayment } from '../../src/adapters/payments.js';

/** What a provider under test offers the shared suite: the interface, its test payment methods, its test hooks. */
export interface ProviderUnderTest {
  provider: PaymentProvider;
  /** Payment methods that authorize, are declined, and need the customer's action (3-D Secure; absent: not offered). */
  methods: { ok: string; declined: string; action?: string };
  /** Settles the customer's action as the customer would; absent where only a browser can (Stripe's test mode). */
  completeAction?(paymentId: string, outcome: 'complete' | 'fail'): Promise<void>;
  /** Makes the next capture of this payment be refused (the authorization expired). */
  failNextCapture?(paymentId: string): Promise<void>;
  stop(): Promise<void>;
}

const AMOUNT = 1999;
const CURRENCY = 'USD';
const RETURN_URL = 'https://shop.example/payment-return';

/**
 * The adapter contract, run against every PaymentProvider (built-in, local Stripe server, Stripe's test mode): only the
 * interface and the hooks above, a fresh purchase in every test, "already in the state asked for" is success.
 */
export function providerSuite(name: string, setup: () => Promise<ProviderUnderTest>): void {
  describe(name, () => {
    let t: ProviderUnderTest;
    beforeAll(async () => {
      t = await setup();
    }, 30_000);
    afterAll(async () => {
      await t?.stop();
    });

    /** A fresh purchase: its id, the keys derived from it, and its prepared payment. */
    async function prepared(capture: CaptureMethod = 'manual') {
      const purchaseId = `pur-${randomUUID()}`;
      const key = (op: string) => `${purchaseId}-${op}`;
      const payment = await t.provider.prepare({
        idempotencyKey: key('prepare'),
        purchaseId,
        amount: AMOUNT,
        currency: CURRENCY,
        description: `provider suite ${purchaseId}`,
        capture,
      });
      return { purchaseId, key, payment };
    }

    async function authorized(capture: CaptureMethod = 'manual') {
      const p = await prepared(capture);
      const payment = await t.provider.authorize({
        idempotencyKey: p.key('authorize'),
        paymentId: p.payment.id,
        method: t.methods.ok,
      });
      return { ...p, payment };
    }

    function expectPayment(p: ProviderPayment, purchaseId: string) {
      expect(p.purchaseId).toBe(purchaseId);
      expect(p.amount).toBe(AMOUNT);
      expect(p.currency.toUpperCase()).toBe(CURRENCY);
      expect(Number.isNaN(Date.parse(p.createdAt))).toBe(false);
    }

    it('prepares an unconfirmed payment, then a manual authorization holds the money', async () => {
      const { purchaseId, key, payment } = await prepared();
      expect(payment.state).toBe('created');
      expectPayment(payment, purchaseId);
      const auth = await t.provider.authorize({
        idempotencyKey: key('authorize'),
        paymentId: payment.id,
        method: t.methods.ok,
      });
      expect(auth).toMatchObject({ id: payment.id, state: 'authorized', captured: 0, refunded: 0 });
      const again = await t.provider.retrieve(payment.id);
      expect(again).toMatchObject({ id: payment.id, state: 'authorized', captured: 0 });
      expectPayment(again, purchaseId);
    });

    it('captures an authorization; capturing again is success', async () => {
      const { key, payment } = await authorized();
      const req = { idempotencyKey: key('capture'), paymentId: payment.id };
      expect(await t.provider.capture(req)).toMatchObject({ state: 'captured', captured: AMOUNT, refunded: 0 });
      expect(await t.provider.capture(req)).toMatchObject({ state: 'captured', captured: AMOUNT });
      const other = { idempotencyKey: key('capture-2'), paymentId: payment.id };
      expect(await t.provider.capture(other)).toMatchObject({ state: 'captured', captured: AMOUNT });
      expect(await t.provider.retrieve(payment.id)).toMatchObject({ state: 'captured', captured: AMOUNT });
    });

    it('voids an authorization; voiding again is success', async () => {
      const { key, payment } = await authorized();
      const req = { idempotencyKey: key('void'), paymentId: payment.id };
      expect(await t.provider.void(req)).toMatchObject({ state: 'voided', captured: 0, refunded: 0 });
      expect(await t.provider.void(req)).toMatchObject({ state: 'voided' });
      expect(await t.provider.void({ idempotencyKey: key('void-2'), paymentId: payment.id })).toMatchObject({
        state: 'voided',
      });
      expect(await t.provider.retrieve(payment.id)).toMatchObject({ state: 'voided', captured: 0 });
    });

    it('a void after the capture answers captured (the caller refunds)', async () => {
      const { key, payment } = await authorized();
      await t.provider.capture({ idempotencyKey: key('capture'), paymentId: payment.id });
      const voided = await t.provider.void({ idempotencyKey: key('void'), paymentId: payment.id });
      expect(voided).toMatchObject({ state: 'captured', captured: AMOUNT, refunded: 0 });
    });

    it('refunds a capture in full; refunding again is success', async () => {
      const { key, payment } = await authorized();
      await t.provider.capture({ idempotencyKey: key('capture'), paymentId: payment.id });
      const req = { idempotencyKey: key('refund'), paymentId: payment.id };
      const full = { state: 'refunded', captured: AMOUNT, refunded: AMOUNT };
      expect(await t.provider.refund(req)).toMatchObject(full);
      expect(await t.provider.refund(req)).toMatchObject(full);
      expect(await t.provider.refund({ idempotencyKey: key('refund-2'), paymentId: payment.id })).toMatchObject(full);
      expect(await t.provider.retrieve(payment.id)).toMatchObject(full);
    });

    it('a declined card is an answer: failed with a reason, nothing held', async () => {
      const { key, payment } = await prepared();
      const declined = await t.provider.authorize({
        idempotencyKey: key('authorize'),
        paymentId: payment.id,
        method: t.methods.declined,
      });
      expect(declined).toMatchObject({ id: payment.id, state: 'failed', captured: 0, refunded: 0 });
      expect(declined.reason).toEqual(expect.any(String));
      expect(declined.reason).not.toBe('');
      const again = await t.provider.retrieve(payment.id);
      expect(again).toMatchObject({ state: 'failed', captured: 0 });
      expect(again.reason).toEqual(expect.any(String));
    });

    it('with automatic capture, authorizing captures', async () => {
      const { payment } = await authorized('automatic');
      expect(payment).toMatchObject({ state: 'captured', captured: AMOUNT, refunded: 0 });
      expect(await t.provider.retrieve(payment.id)).toMatchObject({ state: 'captured', captured: AMOUNT });
    });

    /** Authorizes with the card that needs the customer's action; answers the payment in requires_action. */
    async function waitingForCustomer() {
      const p = await prepared();
      const payment = await t.provider.authorize({
        idempotencyKey: p.key('authorize'),
        paymentId: p.payment.id,
        method: t.methods.action!,
        returnUrl: RETURN_URL,
      });
      return { ...p, payment };
    }

    it('a card that needs the customer answers requires_action with the page to send them to', async (ctx) => {
      if (!t.methods.action) return ctx.skip();
      const { payment } = await waitingForCustomer();
      expect(payment).toMatchObject({ state: 'requires_action', captured: 0 });
      expect(payment.action?.url).toMatch(/^https?:\/\//);
      expect(await t.provider.retrieve(payment.id)).toMatchObject({ state: 'requires_action' });
    });

    it('the customer completes the action: authorized', async (ctx) => {
      if (!t.completeAction || !t.methods.action) return ctx.skip();
      const { payment } = await waitingForCustomer();
      await t.completeAction(payment.id, 'complete');
      expect(await t.provider.retrieve(payment.id)).toMatchObject({ state: 'authorized', captured: 0 });
    });

    it('the customer fails the action: failed with a reason', async (ctx) => {
      if (!t.completeAction || !t.methods.action) return ctx.skip();
      const { payment } = await waitingForCustomer();
      await t.completeAction(payment.id, 'fail');
      const failed = await t.provider.retrieve(payment.id);
      expect(failed).toMatchObject({ state: 'failed', captured: 0 });
      expect(failed.reason).toEqual(expect.any(String));
    });

    it('a capture refused for good (the authorization expired) answers voided or failed with a reason', async (ctx) => {
      if (!t.failNextCapture) return ctx.skip();
      const { key, payment } = await authorized();
      await t.failNextCapture(payment.id);
      const refused = await t.provider.capture({ idempotencyKey: key('capture'), paymentId: payment.id });
      expect(['voided', 'failed']).toContain(refused.state);
      expect(refused.captured).toBe(0);
      expect(refused.reason).toEqual(expect.any(String));
    });

    it("finds a purchase's payment by the purchase, and not another's", async () => {
      const mine = await prepared();
      const theirs = await prepared();
      const found = await t.provider.findByPurchase(mine.purchaseId);
      expect(found).toMatchObject({ id: mine.payment.id, purchaseId: mine.purchaseId, state: 'created' });
      expect(found?.id).not.toBe(theirs.payment.id);
      expect(await t.provider.findByPurchase(`pur-${randomUUID()}`)).toBeUndefined();
    });

    it('lists our payments since a time, newest first', async () => {
      // A minute back: the provider's clock, not ours, stamps `createdAt`.
      const since = new Date(Date.now() - 60_000);
      const first = await prepared();
      // A tick apart, so that a ledger stamping milliseconds has an order to show.
      await new Promise((r) => setTimeout(r, 5));
      const second = await authorized();
      const seen: ProviderPayment[] = [];
      // Until both are seen: made in the same millisecond, either may come first.
      const mine = [first.payment.id, second.payment.id];
      for await (const p of t.provider.list(since)) {
        seen.push(p);
        if (mine.every((id) => seen.some((s) => s.id === id))) break;
      }
      const ids = seen.map((p) => p.id);
      expect(ids).toContain(second.payment.id);
      expect(ids).toContain(first.payment.id);
      expect(seen.find((p) => p.id === second.payment.id)).toMatchObject({
        purchaseId: second.purchaseId,
        state: 'authorized',
      });
      for (const p of seen) expect(p.purchaseId).toEqual(expect.any(String));
      const times = seen.map((p) => Date.parse(p.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      // Of two made in the same tick (Stripe stamps seconds) neither is newer: the order is asked only of distinct times.
      const [at1, at2] = [first, second].map((x) => Date.parse(seen.find((p) => p.id === x.payment.id)!.createdAt));
      if (at2! > at1!) expect(ids.indexOf(second.payment.id)).toBeLessThan(ids.indexOf(first.payment.id));
    });
  });
}
