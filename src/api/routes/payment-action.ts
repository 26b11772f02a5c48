import { Hono } from 'hono';
import { html } from 'hono/html';
import type { BuiltinPaymentProvider } from '../../adapters/builtin-provider.js';
import { formatMoney } from '../../purchase/money.js';
import type { Stores } from '../../stores/domain-stores.js';

export interface PaymentActionDeps {
  provider: BuiltinPaymentProvider;
  stores: Stores;
  /** Makes the purchase look at its payment again now. */
  wake(purchaseId: string): Promise<void>;
}

const page = (title: string, body: unknown) =>
  html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
      </head>
      <body>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;

/** Where a provider's own action page sends back a customer whose purchase gave no returnUrl (PAYMENT_RETURN_PATH). */
export const paymentReturnPage = () =>
  page('Thank you', html`<p>Your payment step is done. Your purchase goes on without this page: you can close it.</p>`);

const gone = () => page('This payment link is no longer valid', html`<p>It was used already, or it never existed.</p>`);

/**
 * The built-in provider's customer action page (contract §4.4, `tok_3ds`): no bearer token, the
 * URL's unguessable one-time secret is the credential. Approve or Decline settles the action at the
 * provider, wakes the purchase, and sends the browser to the purchase's `returnUrl` (or shows the
 * outcome). A used or unknown link says so and changes nothing.
 */
export function paymentActionRoutes(deps: PaymentActionDeps): Hono {
  const app = new Hono();
  app.get('/:secret', async (c) => {
    const payment = await deps.provider.actionFor(c.req.param('secret'));
    if (!payment || payment.state !== 'requires_action') return c.html(gone(), 404);
    return c.html(
      page(
        'Confirm your payment',
        html`<p>Your bank asks you to confirm a payment of ${formatMoney(payment.amount, payment.currency)}.</p>
          <form method="post">
            <button type="submit" name="outcome" value="approve">Approve</button>
            <button type="submit" name="outcome" value="decline">Decline</button>
          </form>`,
      ),
    );
  });
  app.post('/:secret', async (c) => {
    const form = await c.req.parseBody();
    const outcome = form.outcome === 'approve' ? 'approve' : form.outcome === 'decline' ? 'decline' : undefined;
    if (!outcome) return c.html(page('Choose Approve or Decline', html`<p>Go back and choose one.</p>`), 400);
    const payment = await deps.provider.completeAction(c.req.param('secret'), outcome);
    if (!payment?.purchaseId) return c.html(gone(), 404);
    await deps.wake(payment.purchaseId);
    const returnUrl = (await deps.stores.purchases.get(payment.purchaseId))?.request.returnUrl;
    if (returnUrl) return c.redirect(returnUrl, 303);
    return c.html(
      page(
        outcome === 'approve' ? 'Payment confirmed' : 'Payment declined',
        html`<p>You can close this page; your purchase goes on without it.</p>`,
      ),
    );
  });
  return app;
}
