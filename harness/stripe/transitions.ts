import type Stripe from 'stripe';
import { cardError, docUrl, rejected, unexpectedState } from './errors.js';
import type { Events, RequestContext } from './events.js';
import { newId } from './ids.js';
import type { IntentState, Ledger } from './ledger.js';
import { newCharge, snapshot } from './objects.js';
import { paymentError, type Decline, type StoredMethod } from './payment-methods.js';

const AUTHENTICATION_REQUIRED: Decline = {
  code: 'authentication_required',
  decline_code: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
};

/**
 * The PaymentIntent state machine (https://docs.stripe.com/payments/paymentintents/lifecycle): one confirmation
 * attempt, its 3-D Secure outcome, capture and cancel. Every change emits the events Stripe emits for it.
 */
export class Transitions {
  constructor(
    private readonly ledger: Ledger,
    private readonly events: Events,
    /** The 3-D Secure page of this server, for `next_action`. */
    private readonly actionUrl: (pi: Stripe.PaymentIntent) => string,
  ) {}

  /** Runs one confirmation attempt with the attached PaymentMethod; a decline throws Stripe's 402 card_error. */
  attempt(
    state: IntentState,
    method: StoredMethod,
    opts: { returnUrl: string | null; offSession: boolean; errorOnRequiresAction: boolean },
    ctx: RequestContext,
  ): void {
    const { pi } = state;
    state.returnUrl = opts.returnUrl;
    const outcome = method.outcome;
    if (outcome.kind === 'succeed') return this.authorize(state, method, ctx);
    if (outcome.kind === 'decline') return this.decline(state, method, outcome.decline, ctx, true);
    if (opts.offSession || opts.errorOnRequiresAction) {
      return this.decline(state, method, AUTHENTICATION_REQUIRED, ctx, true);
    }
    const url = this.actionUrl(pi);
    pi.status = 'requires_action';
    pi.next_action = opts.returnUrl
      ? { type: 'redirect_to_url', redirect_to_url: { url, return_url: opts.returnUrl } }
      : {
          type: 'use_stripe_sdk',
          use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: url, source: newId('src') },
        };
    this.events.emit('payment_intent.requires_action', pi, ctx);
  }

  /** The customer finished (or failed) 3-D Secure; only a PaymentIntent in `requires_action` can move. */
  authenticate(state: IntentState, outcome: 'complete' | 'fail', ctx: RequestContext): void {
    const { pi } = state;
    if (pi.status !== 'requires_action') {
      throw unexpectedState(snapshot(pi), `This PaymentIntent is not awaiting authentication (status: ${pi.status}).`);
    }
    const method = this.ledger.methods.get(String(pi.payment_method))!;
    if (outcome === 'complete') {
      const after = method.outcome.kind === 'authenticate' ? method.outcome.after : undefined;
      if (after) return this.decline(state, method, after, ctx, false);
      return this.authorize(state, method, ctx);
    }
    pi.status = 'requires_payment_method';
    pi.next_action = null;
    pi.payment_method = null;
    pi.last_payment_error = {
      type: 'invalid_request_error',
      code: 'payment_intent_authentication_failure',
      message:
        'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
      doc_url: docUrl('payment_intent_authentication_failure'),
      payment_method: method.pm,
    };
    this.events.emit('payment_intent.payment_failed', pi, ctx);
  }

  capture(state: IntentState, amount: number | undefined, ctx: RequestContext): void {
    const { pi } = state;
    if (state.failNextCapture && pi.status === 'requires_capture') {
      const code = state.failNextCapture;
      state.failNextCapture = null;
      this.cancel(state, 'automatic', ctx);
      throw rejected(
        'The charge cannot be captured as the authorization has expired. Auth and capture charges must be captured within 7 days.',
        { code },
      );
    }
    if (pi.status !== 'requires_capture') {
      throw unexpectedState(
        snapshot(pi),
        `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
      );
    }
    const capture = amount ?? pi.amount_capturable;
    if (capture > pi.amount_capturable) {
      throw rejected(
        `The amount to capture (${capture}) must be less than or equal to the amount capturable (${pi.amount_capturable}).`,
        { param: 'amount_to_capture', code: 'amount_too_large' },
      );
    }
    const charge = this.ledger.charges.get(String(pi.latest_charge))!;
    charge.captured = true;
    charge.amount_captured = capture;
    charge.balance_transaction = newId('txn');
    pi.status = 'succeeded';
    pi.amount_received = capture;
    pi.amount_capturable = 0;
    this.events.emit('charge.captured', charge, ctx);
    this.events.emit('payment_intent.succeeded', pi, ctx);
  }

  cancel(state: IntentState, reason: Stripe.PaymentIntent.CancellationReason | null, ctx: RequestContext): void {
    const { pi } = state;
    const cancelable = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'];
    if (!cancelable.includes(pi.status) && pi.status !== 'processing') {
      throw unexpectedState(
        snapshot(pi),
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
      );
    }
    if (pi.status === 'requires_capture') {
      // The uncaptured remainder is released: Stripe shows the authorization's charge as refunded.
      const charge = this.ledger.charges.get(String(pi.latest_charge))!;
      charge.refunded = true;
      charge.amount_refunded = charge.amount;
    }
    pi.status = 'canceled';
    pi.canceled_at = this.ledger.seconds();
    pi.cancellation_reason = reason;
    pi.amount_capturable = 0;
    pi.next_action = null;
    this.events.emit('payment_intent.canceled', pi, ctx);
  }

  private authorize(state: IntentState, method: StoredMethod, ctx: RequestContext): void {
    const { pi } = state;
    const charge = newCharge(pi, method.pm, this.ledger.seconds());
    this.ledger.charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.next_action = null;
    pi.last_payment_error = null;
    this.events.emit('charge.succeeded', charge, ctx);
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
      this.events.emit('payment_intent.amount_capturable_updated', pi, ctx);
    } else {
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      this.events.emit('payment_intent.succeeded', pi, ctx);
    }
  }

  private decline(state: IntentState, method: StoredMethod, d: Decline, ctx: RequestContext, raise: boolean): void {
    const { pi } = state;
    const charge = newCharge(pi, method.pm, this.ledger.seconds(), d);
    this.ledger.charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.status = 'requires_payment_method';
    pi.next_action = null;
    pi.payment_method = null;
    pi.last_payment_error = paymentError(d, charge.id, method.pm);
    this.events.emit('charge.failed', charge, ctx);
    this.events.emit('payment_intent.payment_failed', pi, ctx);
    if (raise) throw cardError(snapshot(pi), pi.last_payment_error);
  }
}
