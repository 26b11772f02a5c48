import Stripe from 'stripe';
import type { AuthorizeRequest, PaymentProvider, PrepareRequest, ProviderPayment } from './payments.js';
import { apiBaseConfig, errorReason, isStripeError, toPayment, translate } from './stripe-mapping.js';

export interface StripeProviderOptions {
  secretKey: string;
  /** Default `https://api.stripe.com`; a local Stripe-compatible server in tests (`http://127.0.0.1:PORT`). */
  apiBase?: string;
  /** Per HTTP attempt; default 10 s (the SDK's own 80 s would outlive a worker's job lock). */
  timeoutMs?: number;
  /** The SDK's own retries of connection errors, 409 and 5xx; default 2. Safe: every POST carries our key. */
  maxNetworkRetries?: number;
  /**
   * Where Stripe's 3-D Secure page sends the customer back when the purchase gave no returnUrl. Without any,
   * Stripe answers `use_stripe_sdk` instead of a page: the customer could not act, and the purchase would wait out
   * its deadline.
   */
  defaultReturnUrl?: string;
}

/** Window in which a PaymentIntent may not be searchable yet (Stripe: "up to an hour behind during outages"). */
const SEARCH_LAG_S = 3600;
const WITH_CHARGE = ['latest_charge'];

/**
 * One PaymentIntent per purchase, created unconfirmed (`prepare`) so its id is recorded before money moves: Stripe
 * prunes idempotency keys after 24 h, so a lost answer is resolved by id (`retrieve`) or `findByPurchase`, never by key.
 */
export class StripePaymentProvider implements PaymentProvider {
  readonly name = 'stripe';
  private readonly stripe: Stripe;
  private readonly defaultReturnUrl: string | undefined;

  constructor(opts: StripeProviderOptions) {
    this.defaultReturnUrl = opts.defaultReturnUrl;
    this.stripe = new Stripe(opts.secretKey, {
      ...apiBaseConfig(opts.apiBase ?? 'https://api.stripe.com'),
      timeout: opts.timeoutMs ?? 10_000,
      maxNetworkRetries: opts.maxNetworkRetries ?? 2,
    });
  }

  async prepare(req: PrepareRequest): Promise<ProviderPayment> {
    const params: Stripe.PaymentIntentCreateParams = {
      amount: req.amount,
      currency: req.currency.toLowerCase(),
      capture_method: req.capture,
      description: req.description,
      metadata: { purchase_id: req.purchaseId },
      // `payment_method_types` is gone from the SDK's API version (v23, `allowed_payment_method_types` instead, which
      // the local server does not know yet); this form both accept. Cards' 3-D Secure is not a redirect method: a
      // `return_url`, when given, still yields `redirect_to_url`.
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    };
    return toPayment(
      await this.call(() => this.stripe.paymentIntents.create(params, { idempotencyKey: req.idempotencyKey })),
    );
  }

  async authorize(req: AuthorizeRequest): Promise<ProviderPayment> {
    const returnUrl = req.returnUrl ?? this.defaultReturnUrl;
    const params: Stripe.PaymentIntentConfirmParams = {
      payment_method: req.method,
      ...(returnUrl ? { return_url: returnUrl } : {}),
      expand: WITH_CHARGE,
    };
    try {
      return toPayment(
        await this.stripe.paymentIntents.confirm(req.paymentId, params, { idempotencyKey: req.idempotencyKey }),
      );
    } catch (err) {
      // A decline is an answer: the PaymentIntent is back in requires_payment_method, nothing held.
      if (err instanceof Stripe.errors.StripeCardError) {
        const pi = err.payment_intent ?? (await this.fetch(req.paymentId));
        return { ...toPayment(pi), state: 'failed', reason: errorReason(err) };
      }
      // Confirmed already (a retry after the key was pruned): its current state is the answer.
      if (isStripeError(err, 'payment_intent_unexpected_state')) return this.retrieve(req.paymentId);
      throw translate(err);
    }
  }

  async retrieve(paymentId: string): Promise<ProviderPayment> {
    return toPayment(await this.fetch(paymentId));
  }

  /**
   * Search first; when it finds nothing, list the PaymentIntents of the last hour. Stripe says not to use search
   * in read-after-write flows (indexing takes up to a minute, an hour in outages), and that is exactly our case: a
   * prepare whose answer was lost moments ago. Missing it would create a second PaymentIntent, so the bounded listing
   * (a page per 100 PaymentIntents of the last hour) is the price of never authorizing twice.
   */
  async findByPurchase(purchaseId: string): Promise<ProviderPayment | undefined> {
    const query = `metadata['purchase_id']:'${purchaseId.replace(/['\\]/g, '\\$&')}'`;
    const found = await this.call(() =>
      this.stripe.paymentIntents.search({ query, limit: 1, expand: ['data.latest_charge'] }),
    );
    if (found.data[0]) return toPayment(found.data[0]);
    for await (const payment of this.list(new Date(Date.now() - SEARCH_LAG_S * 1000))) {
      if (payment.purchaseId === purchaseId) return payment;
    }
    return undefined;
  }

  async *list(since?: Date): AsyncIterable<ProviderPayment> {
    const params: Stripe.PaymentIntentListParams = {
      limit: 100,
      expand: ['data.latest_charge'],
      ...(since ? { created: { gte: Math.floor(since.getTime() / 1000) } } : {}),
    };
    try {
      for await (const pi of this.stripe.paymentIntents.list(params)) {
        // The merchant's other sales on the same account are not ours.
        if (pi.metadata?.purchase_id) yield toPayment(pi);
      }
    } catch (err) {
      throw translate(err);
    }
  }

  async capture(req: { idempotencyKey: string; paymentId: string; amount?: number }): Promise<ProviderPayment> {
    const params: Stripe.PaymentIntentCaptureParams = {
      ...(req.amount !== undefined ? { amount_to_capture: req.amount } : {}),
      expand: WITH_CHARGE,
    };
    try {
      return toPayment(
        await this.stripe.paymentIntents.capture(req.paymentId, params, { idempotencyKey: req.idempotencyKey }),
      );
    } catch (err) {
      // Captured already is success; canceled (expired, voided) is a refusal the PaymentIntent itself shows.
      if (isStripeError(err, 'payment_intent_unexpected_state') || isStripeError(err, 'charge_expired_for_capture')) {
        const payment = await this.retrieve(req.paymentId);
        if (payment.state === 'captured' || payment.state === 'refunded') return payment;
        // Expired but not yet canceled by Stripe: refused all the same (the caller voids it).
        const state = payment.state === 'authorized' ? 'failed' : payment.state;
        return { ...payment, state, reason: errorReason(err) };
      }
      throw translate(err);
    }
  }

  async void(req: { idempotencyKey: string; paymentId: string }): Promise<ProviderPayment> {
    try {
      return toPayment(
        await this.stripe.paymentIntents.cancel(
          req.paymentId,
          { expand: WITH_CHARGE },
          { idempotencyKey: req.idempotencyKey },
        ),
      );
    } catch (err) {
      // Canceled already is success; captured meanwhile answers `captured` (the caller refunds).
      if (isStripeError(err, 'payment_intent_unexpected_state')) return this.retrieve(req.paymentId);
      throw translate(err);
    }
  }

  async refund(req: { idempotencyKey: string; paymentId: string; amount?: number }): Promise<ProviderPayment> {
    const params: Stripe.RefundCreateParams = {
      payment_intent: req.paymentId,
      ...(req.amount !== undefined ? { amount: req.amount } : {}),
    };
    try {
      await this.stripe.refunds.create(params, { idempotencyKey: req.idempotencyKey });
    } catch (err) {
      if (!isStripeError(err, 'charge_already_refunded')) throw translate(err);
    }
    return this.retrieve(req.paymentId);
  }

  private fetch(paymentId: string): Promise<Stripe.PaymentIntent> {
    return this.call(() => this.stripe.paymentIntents.retrieve(paymentId, { expand: WITH_CHARGE }));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(err);
    }
  }
}
