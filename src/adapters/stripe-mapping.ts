import Stripe from 'stripe';
import { ProviderUnavailableError, type PaymentState, type ProviderPayment } from './payments.js';

/**
 * Stripe's PaymentIntent in the saga's words (https://docs.stripe.com/payments/paymentintents/lifecycle). `refunded`
 * is read from the latest charge, so callers expand `latest_charge` whenever the PaymentIntent may have succeeded.
 */
export function toPayment(pi: Stripe.PaymentIntent): ProviderPayment {
  const charge = typeof pi.latest_charge === 'object' ? pi.latest_charge : null;
  const captured = pi.status === 'succeeded' ? pi.amount_received : 0;
  // A canceled authorization shows on its charge as refunded too: only money taken can be given back.
  const refunded = captured > 0 ? Math.min(charge?.amount_refunded ?? 0, captured) : 0;
  const state = stateOf(pi, captured, refunded);
  const purchaseId = pi.metadata?.purchase_id;
  const url = pi.next_action?.redirect_to_url?.url;
  return {
    id: pi.id,
    ...(purchaseId ? { purchaseId } : {}),
    state,
    amount: pi.amount,
    currency: pi.currency.toUpperCase(),
    captured,
    refunded,
    ...reasonOf(pi, state),
    // `use_stripe_sdk` (no return_url given) has no page of its own to send the customer to.
    ...(state === 'requires_action' && url ? { action: { url } } : {}),
    createdAt: new Date(pi.created * 1000).toISOString(),
  };
}

function stateOf(pi: Stripe.PaymentIntent, captured: number, refunded: number): PaymentState {
  switch (pi.status) {
    case 'requires_payment_method':
    case 'requires_confirmation':
      // Back to requires_payment_method after a declined attempt or a failed 3-D Secure.
      return pi.last_payment_error ? 'failed' : 'created';
    case 'requires_action':
      return 'requires_action';
    case 'processing':
      return 'pending';
    case 'requires_capture':
      return 'authorized';
    case 'succeeded':
      return refunded > 0 && refunded >= captured ? 'refunded' : 'captured';
    case 'canceled':
      return 'voided';
    default:
      // A status newer than this adapter: not decided as far as we can tell, ask again.
      return 'pending';
  }
}

function reasonOf(pi: Stripe.PaymentIntent, state: PaymentState): { reason?: string } {
  if (state === 'failed') {
    const e = pi.last_payment_error;
    const reason = e?.decline_code ?? e?.code ?? e?.message;
    return reason ? { reason } : {};
  }
  if (state === 'voided' && pi.cancellation_reason) return { reason: pi.cancellation_reason };
  return {};
}

/** Why Stripe refused: the decline code, else the error code, else its message. */
export function errorReason(err: Stripe.errors.StripeError): string {
  return err.decline_code ?? err.code ?? err.message;
}

export function isStripeError(err: unknown, code?: string): err is Stripe.errors.StripeError {
  return err instanceof Stripe.errors.StripeError && (code === undefined || err.code === code);
}

/**
 * A fault whose outcome is unknown (unreachable, 5xx, 429, a 409 lock or in-flight key) becomes
 * ProviderUnavailableError: retry with the same key, or retrieve. Anything else — authentication, permission,
 * StripeIdempotencyError (same key, other parameters), an invalid request — is a configuration or programming error
 * and is answered as it is.
 */
export function translate(err: unknown): unknown {
  if (
    err instanceof Stripe.errors.StripeConnectionError ||
    err instanceof Stripe.errors.StripeAPIError ||
    err instanceof Stripe.errors.StripeRateLimitError ||
    (err instanceof Stripe.errors.StripeError && err.statusCode === 409)
  ) {
    return new ProviderUnavailableError(`stripe: ${err.message}`, { cause: err });
  }
  return err;
}

/** Splits `https://api.stripe.com` (or `http://127.0.0.1:12111`) into the SDK's host, port and protocol. */
export function apiBaseConfig(apiBase: string): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`apiBase must be http(s): ${apiBase}`);
  if (url.pathname !== '/' || url.search) throw new Error(`apiBase takes no path or query: ${apiBase}`);
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return { host: url.hostname, port: url.port || (protocol === 'https' ? 443 : 80), protocol };
}
