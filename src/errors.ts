import { UnrecoverableError } from 'bullmq';

/** The contract's closed set of error codes, each with its HTTP status and title. */
export const ERRORS = {
  missing_token: { status: 401, title: 'Missing bearer token' },
  invalid_token: { status: 401, title: 'Invalid token' },
  expired_token: { status: 401, title: 'Expired token' },
  validation_error: { status: 400, title: 'Invalid request' },
  invalid_product: { status: 422, title: 'Unknown product' },
  incomplete_customization: { status: 422, title: 'Incomplete customization' },
  invalid_customization: { status: 422, title: 'Invalid customization' },
  rule_rejected: { status: 422, title: 'Rejected by a business rule' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  payment_failed: { status: 402, title: 'Payment failed' },
  out_of_stock: { status: 409, title: 'Out of stock' },
  missing_dependencies: { status: 409, title: 'Missing dependencies' },
  quota_exceeded: { status: 409, title: 'Quota exceeded' },
  not_found: { status: 404, title: 'Not found' },
  not_cancelable: { status: 409, title: 'Not cancelable' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  rate_limit_exceeded: { status: 429, title: 'Rate limit exceeded' },
  internal_error: { status: 500, title: 'Internal error' },
  purchase_failed: { status: 502, title: 'Purchase failed' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  invalid_signature: { status: 400, title: 'Invalid signature' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An error the gateway renders as problem+json with its code. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    readonly detail: string = ERRORS[code].title,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code}: ${detail}`);
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/**
 * A business outcome inside a saga step (declined, out of stock, quota…).
 * BullMQ does not retry it; the code ends up on the purchase record.
 */
export class StepError extends UnrecoverableError {
  override name = 'StepError';
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}
