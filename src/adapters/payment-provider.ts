import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';

export interface ChargeRequest {
  /** The same key for every attempt at one charge: a lost response is resolved, never charged twice. */
  idempotencyKey: string;
  token: string;
  amount: number;
  currency: string;
  description: string;
}

export type ChargeResult = { status: 'captured'; chargeId: string } | { status: 'declined'; reason: string };

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amount: number;
}

/** What the saga needs from a payment provider; Stripe's PaymentIntents fit behind it. */
export interface PaymentProvider {
  /** Declines are results; throws only when the outcome is unknown (retry with the same key). */
  charge(req: ChargeRequest): Promise<ChargeResult>;
  refund(req: RefundRequest): Promise<{ refundId: string }>;
  /** The charge made under this idempotency key, if any: resolves a charge whose answer was lost. */
  findCharge(idempotencyKey: string): Promise<ChargeResult | undefined>;
}

export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/**
 * The built-in test provider. Its ledger lives in Redis so idempotency holds
 * across processes: `tok_visa` captures, `tok_declined` declines, `tok_error` fails.
 */
export class TestPaymentProvider implements PaymentProvider {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    if (req.token === 'tok_error') throw new ProviderUnavailableError('payment provider error (tok_error)');
    const result: ChargeResult =
      req.token === 'tok_declined' || !req.token.startsWith('tok_')
        ? { status: 'declined', reason: 'card declined' }
        : { status: 'captured', chargeId: `ch_${randomUUID().replaceAll('-', '')}` };
    const entry = JSON.stringify({
      ...result,
      amount: req.amount,
      currency: req.currency,
      at: new Date().toISOString(),
    });
    const key = this.keys.providerCharge(req.idempotencyKey);
    const created = await this.redis.set(key, entry, 'NX');
    if (created) return result;
    return JSON.parse((await this.redis.get(key))!) as ChargeResult;
  }

  async findCharge(idempotencyKey: string): Promise<ChargeResult | undefined> {
    const raw = await this.redis.get(this.keys.providerCharge(idempotencyKey));
    return raw ? (JSON.parse(raw) as ChargeResult) : undefined;
  }

  async refund(req: RefundRequest): Promise<{ refundId: string }> {
    const key = this.keys.providerRefund(req.idempotencyKey);
    const entry = { refundId: `re_${randomUUID().replaceAll('-', '')}`, chargeId: req.chargeId, amount: req.amount };
    await this.redis.set(key, JSON.stringify(entry), 'NX');
    return JSON.parse((await this.redis.get(key))!) as { refundId: string };
  }
}
