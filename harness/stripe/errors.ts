import type Stripe from 'stripe';

/** Stripe's error envelope body (`{ error: … }`), the shape stripe-node turns into its error classes. */
export interface StripeErrorBody {
  type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';
  code?: string;
  decline_code?: string;
  message: string;
  param?: string;
  charge?: string;
  payment_intent?: Stripe.PaymentIntent;
  payment_method?: Stripe.PaymentMethod;
  doc_url?: string;
  request_log_url?: string;
}

/**
 * An error answer. `saved` says whether the idempotency layer keeps it: Stripe saves a result only once the endpoint
 * began executing, so parameter validation failures and conflicts are not saved and may be retried with the same key.
 */
export class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    readonly saved = true,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

export function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`;
}

function withCode(body: StripeErrorBody): StripeErrorBody {
  return body.code ? { ...body, doc_url: docUrl(body.code) } : body;
}

/** 400 invalid_request_error raised while validating parameters (not saved under an idempotency key). */
export function invalid(message: string, opts: { param?: string; code?: string } = {}): StripeHttpError {
  return new StripeHttpError(400, withCode({ type: 'invalid_request_error', message, ...opts }), false);
}

/** 400 invalid_request_error raised by the endpoint's own logic (saved, like any executed request). */
export function rejected(message: string, opts: { param?: string; code?: string } = {}): StripeHttpError {
  return new StripeHttpError(400, withCode({ type: 'invalid_request_error', message, ...opts }));
}

/** `No such payment_intent: 'pi_…'`: 404 for the object named by the URL, 400 for one named by a parameter. */
export function noSuch(kind: string, id: string, param: string, status: 400 | 404 = 404): StripeHttpError {
  const body = withCode({
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such ${kind}: '${id}'`,
    param,
  });
  return new StripeHttpError(status, body, status === 404);
}

/** 400 payment_intent_unexpected_state, carrying the PaymentIntent as Stripe does. */
export function unexpectedState(pi: Stripe.PaymentIntent, message: string): StripeHttpError {
  return new StripeHttpError(
    400,
    withCode({ type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message, payment_intent: pi }),
  );
}

/** 402 card_error for a declined attempt; the PaymentIntent is already back in requires_payment_method. */
export function cardError(pi: Stripe.PaymentIntent, error: Stripe.PaymentIntent.LastPaymentError): StripeHttpError {
  const body: StripeErrorBody = {
    type: 'card_error',
    code: error.code,
    decline_code: error.decline_code,
    message: error.message ?? 'Your card was declined.',
    param: error.param,
    charge: error.charge,
    doc_url: error.doc_url,
    payment_intent: pi,
    payment_method: error.payment_method,
  };
  return new StripeHttpError(402, body);
}

export function unrecognized(method: string, path: string): StripeHttpError {
  return new StripeHttpError(
    404,
    {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    },
    false,
  );
}
