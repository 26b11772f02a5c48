import type Stripe from 'stripe';
import { AUTOMATIC } from './events.js';
import type { Ledger } from './ledger.js';
import type { Transitions } from './transitions.js';

export interface PageAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const ACTION_PATH = '/3d_secure_2/hosted';

/** The URL of the test authentication page for a PaymentIntent (Stripe's own lives on hooks.stripe.com). */
export function actionUrl(base: string, pi: Stripe.PaymentIntent): string {
  const q = new URLSearchParams({ payment_intent: pi.id, payment_intent_client_secret: pi.client_secret ?? '' });
  return `${base}${ACTION_PATH}?${q}`;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(status: number, title: string, inner: string): PageAnswer {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${inner}</main></body></html>`;
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

/**
 * Stripe's test 3-D Secure page: "Complete" or "Fail" settles the authentication, then the browser goes to the
 * confirmation's `return_url` with `payment_intent`, `payment_intent_client_secret` and `redirect_status`.
 * A link for an unknown PaymentIntent, a wrong secret, or one no longer awaiting authentication changes nothing.
 */
export class ThreeDSecurePage {
  constructor(
    private readonly ledger: Ledger,
    private readonly transitions: Transitions,
  ) {}

  show(query: URLSearchParams): PageAnswer {
    const state = this.pending(query.get('payment_intent'), query.get('payment_intent_client_secret'));
    if (!state) return page(400, 'This authentication link is no longer valid', '<p>Nothing was changed.</p>');
    const { pi } = state;
    const hidden = `<input type="hidden" name="payment_intent" value="${escape(pi.id)}"><input type="hidden" name="payment_intent_client_secret" value="${escape(pi.client_secret ?? '')}">`;
    const form = (action: string, label: string) =>
      `<form method="post" action="${ACTION_PATH}/${action}">${hidden}<button type="submit" name="outcome" value="${action}">${label}</button></form>`;
    const amount = `${(pi.amount / 100).toFixed(2)} ${pi.currency.toUpperCase()}`;
    return page(
      200,
      '3D Secure 2 Test Page',
      `<p>Test authentication of a payment of <strong>${escape(amount)}</strong> (${escape(pi.id)}).</p>${form('complete', 'Complete')}${form('fail', 'Fail')}`,
    );
  }

  settle(outcome: 'complete' | 'fail', form: URLSearchParams): PageAnswer {
    const state = this.pending(form.get('payment_intent'), form.get('payment_intent_client_secret'));
    if (!state) return page(400, 'This authentication link is no longer valid', '<p>Nothing was changed.</p>');
    this.transitions.authenticate(state, outcome, AUTOMATIC);
    const { pi } = state;
    const redirectStatus = pi.status === 'requires_payment_method' ? 'failed' : 'succeeded';
    if (!state.returnUrl)
      return page(200, `Authentication ${redirectStatus}`, `<p>PaymentIntent ${escape(pi.id)}.</p>`);
    const target = new URL(state.returnUrl);
    target.searchParams.set('payment_intent', pi.id);
    target.searchParams.set('payment_intent_client_secret', pi.client_secret ?? '');
    target.searchParams.set('redirect_status', redirectStatus);
    return { status: 303, headers: { location: target.toString() }, body: '' };
  }

  private pending(id: string | null, secret: string | null) {
    const state = id ? this.ledger.intents.get(id) : undefined;
    if (!state || !secret || state.pi.client_secret !== secret || state.pi.status !== 'requires_action')
      return undefined;
    return state;
  }
}
