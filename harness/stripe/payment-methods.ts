import type Stripe from 'stripe';
import { docUrl } from './errors.js';
import { newId } from './ids.js';

/** How an attempt with a card ends (https://docs.stripe.com/testing). */
export interface Decline {
  code: string;
  decline_code?: string;
  message: string;
  param?: string;
}
export type Outcome =
  | { kind: 'succeed' }
  | { kind: 'decline'; decline: Decline }
  /** 3-D Secure first; `after` is the decline that follows a completed authentication, if any. */
  | { kind: 'authenticate'; after?: Decline };

interface Fixture {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit';
  outcome: Outcome;
}

const declined = (decline_code: string, message = 'Your card was declined.'): Outcome => ({
  kind: 'decline',
  decline: { code: 'card_declined', decline_code, message },
});
const INSUFFICIENT: Decline = {
  code: 'card_declined',
  decline_code: 'insufficient_funds',
  message: 'Your card has insufficient funds.',
};
const ok: Outcome = { kind: 'succeed' };
const threeDS: Outcome = { kind: 'authenticate' };

/** Stripe's documented test PaymentMethods and tokens that this server knows. */
const FIXTURES: Record<string, Fixture> = {
  pm_card_visa: { brand: 'visa', last4: '4242', funding: 'credit', outcome: ok },
  tok_visa: { brand: 'visa', last4: '4242', funding: 'credit', outcome: ok },
  pm_card_visa_debit: { brand: 'visa', last4: '5556', funding: 'debit', outcome: ok },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit', outcome: ok },
  tok_mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit', outcome: ok },
  pm_card_amex: { brand: 'amex', last4: '8431', funding: 'credit', outcome: ok },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', outcome: declined('generic_decline') },
  tok_chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', outcome: declined('generic_decline') },
  pm_card_visa_chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    funding: 'credit',
    outcome: { kind: 'decline', decline: INSUFFICIENT },
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    funding: 'credit',
    outcome: { kind: 'decline', decline: INSUFFICIENT },
  },
  tok_chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    funding: 'credit',
    outcome: { kind: 'decline', decline: INSUFFICIENT },
  },
  pm_card_visa_chargeDeclinedLostCard: {
    brand: 'visa',
    last4: '9987',
    funding: 'credit',
    outcome: declined('lost_card'),
  },
  pm_card_visa_chargeDeclinedStolenCard: {
    brand: 'visa',
    last4: '9979',
    funding: 'credit',
    outcome: declined('stolen_card'),
  },
  pm_card_chargeDeclinedExpiredCard: {
    brand: 'visa',
    last4: '0069',
    funding: 'credit',
    outcome: {
      kind: 'decline',
      decline: { code: 'expired_card', message: 'Your card has expired.', param: 'exp_month' },
    },
  },
  pm_card_chargeDeclinedIncorrectCvc: {
    brand: 'visa',
    last4: '0127',
    funding: 'credit',
    outcome: {
      kind: 'decline',
      decline: { code: 'incorrect_cvc', message: "Your card's security code is incorrect.", param: 'cvc' },
    },
  },
  pm_card_chargeDeclinedProcessingError: {
    brand: 'visa',
    last4: '0119',
    funding: 'credit',
    outcome: {
      kind: 'decline',
      decline: {
        code: 'processing_error',
        message: 'An error occurred while processing your card. Try again in a little bit.',
      },
    },
  },
  pm_card_authenticationRequired: { brand: 'visa', last4: '3184', funding: 'credit', outcome: threeDS },
  pm_card_threeDSecure2Required: { brand: 'visa', last4: '3220', funding: 'credit', outcome: threeDS },
  tok_threeDSecure2Required: { brand: 'visa', last4: '3220', funding: 'credit', outcome: threeDS },
  pm_card_authenticationRequiredChargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '3178',
    funding: 'credit',
    outcome: { kind: 'authenticate', after: INSUFFICIENT },
  },
};

export interface StoredMethod {
  pm: Stripe.PaymentMethod;
  outcome: Outcome;
}

/** The PaymentMethods created from test fixtures: as on Stripe, `pm_card_visa` becomes a new `pm_…` each time. */
export class PaymentMethods {
  private readonly methods = new Map<string, StoredMethod>();

  /** Resolves a fixture name or a stored id; undefined when Stripe would answer `No such PaymentMethod`. */
  resolve(idOrFixture: string, created: number): StoredMethod | undefined {
    const stored = this.methods.get(idOrFixture);
    if (stored) return stored;
    const fixture = FIXTURES[idOrFixture];
    if (!fixture) return undefined;
    const pm = paymentMethod(fixture, created);
    const method = { pm, outcome: fixture.outcome };
    this.methods.set(pm.id, method);
    return method;
  }

  get(id: string): StoredMethod | undefined {
    return this.methods.get(id);
  }

  clear(): void {
    this.methods.clear();
  }
}

function paymentMethod(f: Fixture, created: number): Stripe.PaymentMethod {
  return {
    id: newId('pm'),
    object: 'payment_method',
    billing_details: { address: null, email: null, name: null, phone: null, tax_id: null },
    card: {
      brand: f.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
      country: 'US',
      display_brand: f.brand,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      funding: f.funding,
      generated_from: null,
      last4: f.last4,
      networks: { available: [f.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created,
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
}

/** The `last_payment_error` of a declined attempt, as Stripe fills it. */
export function paymentError(d: Decline, charge: string | undefined, pm: Stripe.PaymentMethod) {
  return {
    type: 'card_error' as const,
    code: d.code,
    decline_code: d.decline_code,
    message: d.message,
    param: d.param,
    charge,
    doc_url: docUrl(d.code),
    payment_method: pm,
  } satisfies Stripe.PaymentIntent.LastPaymentError;
}
