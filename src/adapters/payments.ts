/**
 * What the saga needs from a payment provider: the verbs Stripe, Adyen and PayPal share. A payment
 * is created for a purchase first (its id recorded before any money moves), then authorized with
 * the customer's payment method, captured at the pivot (or at once), voided before it, refunded
 * after it. Every call carries our own idempotency key; "already in the state asked for" is success.
 * A business outcome (a decline, a refused capture) is a state in the answer; a call throws only
 * when its outcome is unknown (ProviderUnavailableError: retry with the same key, or retrieve).
 */

/** A payment as the provider holds it, in the saga's words. */
export type PaymentState =
  /** Created, not yet authorized. */
  | 'created'
  /** The customer must act (3-D Secure): `action.url`. */
  | 'requires_action'
  /** Money held, not taken: capture or void it. */
  | 'authorized'
  /** Taken (`captured` of `amount`); refunds may follow. */
  | 'captured'
  /** The authorization was released: nothing was taken. */
  | 'voided'
  /** Taken, then given back in full. */
  | 'refunded'
  /** Declined, or the customer's action failed: nothing held. */
  | 'failed'
  /** The provider has not decided yet (an asynchronous capture, void or refund): ask again. */
  | 'pending';

export interface ProviderPayment {
  /** The provider's id (Stripe: the PaymentIntent's). */
  id: string;
  /** Our purchase, as the provider keeps it (Stripe: metadata.purchase_id). */
  purchaseId?: string;
  state: PaymentState;
  /** Minor units. */
  amount: number;
  currency: string;
  /** How much was taken, and how much of it given back. */
  captured: number;
  refunded: number;
  /** Why it failed or was refused: a decline reason, an expired authorization. */
  reason?: string;
  /** Where the customer completes an action, while `requires_action`. */
  action?: { url: string };
  /** ISO time the provider created it. */
  createdAt: string;
}

/** `manual`: authorize now, capture at the pivot. `automatic`: authorizing captures (PAYMENT_CAPTURE=immediate). */
export type CaptureMethod = 'manual' | 'automatic';

export interface PrepareRequest {
  idempotencyKey: string;
  purchaseId: string;
  amount: number;
  currency: string;
  description: string;
  capture: CaptureMethod;
}

export interface AuthorizeRequest {
  idempotencyKey: string;
  paymentId: string;
  /** The customer's payment method: a test token, a Stripe PaymentMethod id. */
  method: string;
  returnUrl?: string;
}

export interface PaymentProvider {
  /** The provider's name, as the configuration says it (`builtin`, `stripe`). */
  readonly name: string;
  /** Creates the purchase's payment, unconfirmed: nothing is held yet. */
  prepare(req: PrepareRequest): Promise<ProviderPayment>;
  /**
   * Confirms it with the customer's payment method: `authorized` (manual), `captured` (automatic),
   * `failed` (declined: `reason`) or `requires_action`. `returnUrl`: where the customer's browser goes
   * after an action.
   */
  authorize(req: AuthorizeRequest): Promise<ProviderPayment>;
  /**
   * Creates and authorizes in one call, offered only by a provider that finds a purchase's payment
   * again at any time by the purchase alone (its ids derive from the purchase), so the saga has no id
   * to record before money moves. A second call for the purchase answers its payment as it is.
   */
  prepareAndAuthorize?(req: PrepareRequest & Omit<AuthorizeRequest, 'paymentId'>): Promise<ProviderPayment>;
  /** The payment as the provider has it now: the truth a lost answer or a webhook is resolved by. */
  retrieve(paymentId: string): Promise<ProviderPayment>;
  /** The payment a purchase's prepare made, if any (its answer was lost before the id was recorded). */
  findByPurchase(purchaseId: string): Promise<ProviderPayment | undefined>;
  /**
   * Takes an authorization: `captured`, or — refused for good (an expired authorization) — `voided` or
   * `failed` with a `reason`. Already captured is success.
   */
  capture(req: { idempotencyKey: string; paymentId: string; amount?: number }): Promise<ProviderPayment>;
  /** Releases an authorization (or a payment still waiting for its customer). Already voided is success. */
  void(req: { idempotencyKey: string; paymentId: string }): Promise<ProviderPayment>;
  /** Gives back what was taken (`amount`, in full by default). Already refunded is success. */
  refund(req: { idempotencyKey: string; paymentId: string; amount?: number }): Promise<ProviderPayment>;
  /** Every payment of ours (a purchase id in it) created at or after `since`, newest first: the reconciliation. */
  list(since?: Date): AsyncIterable<ProviderPayment>;
}

/** The provider could not be reached, or answered with a fault: the outcome is unknown, retry with the same key. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}
