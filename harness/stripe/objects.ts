import type Stripe from 'stripe';
import { clientSecret, newId } from './ids.js';

/** Every field of a fresh PaymentIntent, as `POST /v1/payment_intents` answers it (status set by the caller). */
export function newPaymentIntent(f: {
  amount: number;
  currency: string;
  capture_method: 'automatic' | 'manual';
  created: number;
  metadata: Record<string, string>;
  description: string | null;
  payment_method_types: string[] | undefined;
  allow_redirects: 'always' | 'never' | undefined;
  receipt_email: string | null;
  statement_descriptor: string | null;
  customer: string | null;
}): Stripe.PaymentIntent {
  const id = newId('pi');
  const automatic = f.payment_method_types === undefined;
  return {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount: f.amount,
    amount_capturable: 0,
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: automatic
      ? { enabled: true, ...(f.allow_redirects ? { allow_redirects: f.allow_redirects } : {}) }
      : null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: f.capture_method,
    client_secret: clientSecret(id),
    confirmation_method: 'automatic',
    created: f.created,
    currency: f.currency,
    customer: f.customer,
    customer_account: null,
    description: f.description,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: f.metadata,
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: null,
    payment_method_types: f.payment_method_types ?? ['card'],
    payment_record: null,
    processing: null,
    receipt_email: f.receipt_email,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: f.statement_descriptor,
    statement_descriptor_suffix: null,
    status: 'requires_payment_method',
    transfer_group: null,
  };
}

const AUTH_VALIDITY_S = 7 * 24 * 3600;

/** The Charge of one attempt: `succeeded` (authorized, or captured at once) or `failed` (declined). */
export function newCharge(
  pi: Stripe.PaymentIntent,
  pm: Stripe.PaymentMethod,
  created: number,
  failure?: { code: string; message: string; decline_code?: string },
): Stripe.Charge {
  const captured = !failure && pi.capture_method === 'automatic';
  const card = pm.card!;
  return {
    id: newId('ch'),
    object: 'charge',
    amount: pi.amount,
    amount_captured: captured ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: captured ? newId('txn') : null,
    billing_details: pm.billing_details,
    calculated_statement_descriptor: 'STRIPE TEST',
    captured,
    created,
    currency: pi.currency,
    customer: typeof pi.customer === 'string' ? pi.customer : null,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: failure?.code ?? null,
    failure_message: failure?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: { ...pi.metadata },
    on_behalf_of: null,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: failure ? 'declined_by_network' : 'approved_by_network',
      reason: failure?.decline_code ?? null,
      risk_level: 'normal',
      seller_message: failure ? 'The bank did not return any further details with this decline.' : 'Payment complete.',
      type: failure ? 'issuer_declined' : 'authorized',
    },
    paid: !failure,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: {
      type: 'card',
      card: {
        amount_authorized: failure ? null : pi.amount,
        authorization_code: failure ? null : '123456',
        brand: card.brand,
        capture_before: failure || captured ? undefined : created + AUTH_VALIDITY_S,
        checks: card.checks,
        country: card.country,
        electronic_commerce_indicator: null,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        funding: card.funding,
        installments: null,
        last4: card.last4,
        mandate: null,
        network: card.brand,
        network_transaction_id: failure ? null : newId('ntx', 15).slice(4),
        regulated_status: 'unregulated',
        three_d_secure: null,
        transaction_link_id: null,
        wallet: null,
      },
    },
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: null,
    status: failure ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
}

export function newRefund(f: {
  amount: number;
  charge: Stripe.Charge;
  created: number;
  metadata: Record<string, string>;
  reason: Stripe.Refund.Reason | null;
}): Stripe.Refund {
  return {
    id: newId('re'),
    object: 'refund',
    amount: f.amount,
    application: null,
    balance_transaction: newId('txn'),
    charge: f.charge.id,
    created: f.created,
    currency: f.charge.currency,
    customer: null,
    customer_account: null,
    destination_details: {
      type: 'card',
      card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
    },
    metadata: f.metadata,
    payment_intent: typeof f.charge.payment_intent === 'string' ? f.charge.payment_intent : null,
    payment_method: f.charge.payment_method,
    reason: f.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
}

/** A deep copy: events and answers are snapshots, later changes must not leak into them. */
export function snapshot<T>(value: T): T {
  return structuredClone(value);
}
