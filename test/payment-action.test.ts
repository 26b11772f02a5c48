import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { launchChromium } from './helpers/browser.js';
import type { Customer } from './helpers/customer.js';
import { providerPaymentOf } from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/*
 * Contract §4.4, the customer's payment action with the built-in provider (`tok_3ds`): the purchase
 * waits for its customer without holding a worker, the action page (no bearer token: its one-time
 * secret) settles it, and the purchase goes on or gives everything back, voided.
 */

const basic = (token: string, returnUrl?: string) => ({
  items: [{ productId: 'basic-plan', quantity: 1 }],
  payment: { token, ...(returnUrl ? { returnUrl } : {}) },
});

/** Posts the action page's form as a browser would (no bearer token: the URL is the credential). */
const act = (url: string, outcome: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ outcome }),
    redirect: 'manual',
  });

describe('Feature: the customer confirms a payment (3-D Secure)', () => {
  let sys: TestSystem;
  const extra: TestSystem[] = [];
  beforeAll(async () => {
    // A sync request would wait a minute for an outcome: an early 202 is the purchase answering at requires_action.
    // A waiting purchase checks by itself only every minute here: what moves it in time is the wake (page, cancel).
    sys = await startTestSystem({ env: { SYNC_TIMEOUT_MS: '60000', WAIT_CHECK_MS: '60000' } });
  });
  afterAll(async () => {
    for (const s of [sys, ...extra]) await s?.stop();
  });

  /** A purchase waiting for its customer: the sync answer (202 at once), and where to act. */
  async function waiting(customer: Customer, returnUrl?: string) {
    const res = await customer.purchase(basic('tok_3ds', returnUrl));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/purchases/${res.body.id}`);
    return { id: res.body.id as string, view: res.body, url: res.body.payment.nextAction.url as string };
  }

  it('answers a sync purchase 202 at once with the action; approved in a real browser, it completes and the browser lands on returnUrl', async () => {
    const customer = await sys.customer();
    const returnUrl = `${sys.gatewayUrl}/healthz?back=shop`;
    const { id, view, url } = await waiting(customer, returnUrl);
    expect(view).toMatchObject({
      id,
      status: 'requires_action',
      payment: { status: 'requires_action', amount: 999, nextAction: { type: 'redirect' } },
    });
    expect(url).toMatch(new RegExp(`^${sys.gatewayUrl}/pay/[\\w-]{32}$`));
    expect(Date.parse(view.payment.actionExpiresAt)).toBeGreaterThan(Date.now());
    expect(view.steps.find((s: any) => s.name === 'payment')).toEqual({
      name: 'payment',
      status: 'waiting',
      until: view.payment.actionExpiresAt,
    });
    const [notice] = (await customer.notifications()).filter((n) => n.type === 'payment_action_required');
    expect(notice).toMatchObject({ purchaseId: id, details: { url } });
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'requires_action', captured: 0 });

    const browser = await launchChromium('the payment action page test');
    try {
      const page = await browser.newPage();
      expect((await page.goto(url))?.status()).toBe(200);
      expect(await page.locator('body').innerText()).toContain('$9.99');
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.waitForURL(returnUrl);
    } finally {
      await browser.close();
    }
    const done = await customer.waitForTerminal(id);
    expect(done).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 999 } });
    expect(done.payment.nextAction).toBeUndefined();
    expect(done.steps.every((s: any) => s.status === 'completed' && !('until' in s))).toBe(true);
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'captured', captured: 999 });
    // The link was used: it shows that it is no longer valid, and a second answer changes nothing.
    expect((await fetch(url)).status).toBe(404);
    const again = await act(url, 'decline');
    expect(again.status).toBe(404);
    expect(await again.text()).toContain('no longer valid');
    expect((await customer.purchaseState(id)).status).toBe('completed');
  });

  it('declined on the page: failed with payment_failed, the payment voided, the stock back, nothing ordered', async () => {
    const customer = await sys.customer();
    const before = await sys.stores.catalog.stock('basic-plan');
    const { id, url } = await waiting(customer);
    const answer = await act(url, 'decline');
    expect(answer.status).toBe(200);
    expect(await answer.text()).toContain('Payment declined');
    const failed = await customer.waitForSettled(id);
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'payment_failed', step: 'payment' },
      payment: { status: 'voided', amount: 999 },
    });
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', captured: 0 });
    expect(await sys.stores.catalog.stock('basic-plan')).toEqual(before);
    expect(await customer.orders()).toEqual([]);
    expect((await customer.notifications()).map((n) => n.type).sort()).toEqual([
      'payment_action_required',
      'payment_failed',
    ]);
  });

  it('an unknown link shows that it is not valid and changes nothing', async () => {
    const customer = await sys.customer();
    const { id, url } = await waiting(customer);
    const forged = url.replace(/[\w-]{32}$/, 'x'.repeat(32));
    expect((await fetch(forged)).status).toBe(404);
    expect((await act(forged, 'approve')).status).toBe(404);
    expect((await customer.purchaseState(id)).status).toBe('requires_action');
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'requires_action' });
  });

  it('a cancel while it waits ends it canceled at once, the payment voided', async () => {
    const customer = await sys.customer();
    const { id, url } = await waiting(customer);
    const cancel = await customer.cancel(id);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'canceled', payment: { status: 'voided' } });
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', captured: 0 });
    // The link no longer moves anything.
    await act(url, 'approve');
    expect(await providerPaymentOf(sys, id)).toMatchObject({ state: 'voided', captured: 0 });
    expect(await customer.orders()).toEqual([]);
  });

  it('no action before the deadline: failed with payment_failed, voided, by the purchase itself', async () => {
    const own = await startTestSystem({ env: { PAYMENT_ACTION_TIMEOUT_S: '2', WAIT_CHECK_MS: '500' } });
    extra.push(own);
    const customer = await own.customer();
    const res = await customer.purchase(basic('tok_3ds'));
    expect(res.status).toBe(202);
    const failed = await customer.waitForSettled(res.body.id, 20_000);
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'payment_failed' },
      payment: { status: 'voided' },
    });
    expect(failed.error.detail).toMatch(/not confirmed in time/);
    expect(await providerPaymentOf(own, res.body.id)).toMatchObject({ state: 'voided', captured: 0 });
  });

  it('waiting holds no worker: with one job at a time per queue, purchases waiting for their customers do not stop an ordinary one', async () => {
    const own = await startTestSystem({ env: { WORKER_CONCURRENCY: '1', SYNC_TIMEOUT_MS: '20000' } });
    extra.push(own);
    const customer = await own.customer();
    const parked = await Promise.all(
      [1, 2, 3].map(async () => (await customer.purchase(basic('tok_3ds'), { async: true })).body.id as string),
    );
    await eventually('every purchase waiting for its customer', async () => {
      for (const id of parked) if ((await customer.purchaseState(id)).status !== 'requires_action') return false;
      return true;
    });
    const ordinary = await customer.purchase(basic('tok_visa'));
    expect(ordinary.status).toBe(201);
    expect(ordinary.body).toMatchObject({ status: 'completed', payment: { status: 'captured' } });
    for (const id of parked) expect((await customer.purchaseState(id)).status).toBe('requires_action');
  });
});
