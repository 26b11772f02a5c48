import { randomBytes } from 'node:crypto';
import { builtinPaymentId } from '../ids.js';
import type { Keys } from '../keys.js';
import { jsonValues, scanKeys, type RedisClient } from '../redis.js';
import { defineCommands } from '../stores/lua/commands.js';
import {
  ProviderUnavailableError,
  type AuthorizeRequest,
  type CaptureMethod,
  type PaymentProvider,
  type PrepareRequest,
  type ProviderPayment,
} from './payments.js';

/** A payment as the built-in provider keeps it. */
interface Stored extends ProviderPayment {
  capture: CaptureMethod;
  /** tok_capture_fails: its capture will be refused, as an expired authorization's is. */
  captureRefused?: true;
}

/** Where the customer's action page is: the gateway serves it (GET /pay/:secret), off PUBLIC_URL. */
export type ActionUrl = (secret: string) => string;

/** What authorizing with each test token leads to (contract §3); any other token is declined. */
function outcomeOf(token: string): { to: 'hold' | 'failed' | 'requires_action'; reason?: string } {
  if (token === 'tok_error') throw new ProviderUnavailableError('payment provider error (tok_error)');
  if (token === 'tok_3ds') return { to: 'requires_action' };
  if (token === 'tok_visa' || token === 'tok_capture_fails') return { to: 'hold' };
  return { to: 'failed', reason: 'card declined' };
}

/**
 * The built-in test provider (PAYMENT_PROVIDER=builtin, the default): no configuration, its ledger
 * in Redis so it holds across processes and restarts. One payment per purchase, on the purchase's
 * shard; each operation is one atomic step of the payment's state machine (payment-op-1.lua), so
 * a retry, with the same key or without, never moves money twice.
 */
export class BuiltinPaymentProvider implements PaymentProvider {
  readonly name = 'builtin';

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Where the gateway serves the action page (createPaymentProvider builds it off PUBLIC_URL); none: no page. */
    private readonly actionUrl?: ActionUrl,
  ) {
    defineCommands(redis);
  }

  async prepare(req: PrepareRequest): Promise<ProviderPayment> {
    const payment = created(req);
    // One round trip: written, or the one an earlier attempt wrote.
    const earlier = await this.redis.set(this.keys.providerPayment(payment.id), JSON.stringify(payment), 'NX', 'GET');
    return shown(earlier ? (JSON.parse(earlier) as Stored) : payment);
  }

  async authorize(req: AuthorizeRequest): Promise<ProviderPayment> {
    return this.op(req.paymentId, 'authorize', ...(await this.authorization(req.paymentId, req.method)));
  }

  async prepareAndAuthorize(req: PrepareRequest & Omit<AuthorizeRequest, 'paymentId'>): Promise<ProviderPayment> {
    const payment = created(req);
    const [to, reason, merge] = await this.authorization(payment.id, req.method);
    return this.op(payment.id, 'authorize', to, reason, merge, JSON.stringify(payment));
  }

  /**
   * What authorizing with `method` does: the state it leads to, a decline's reason, and what the token
   * decides beyond it, applied with it: a capture to refuse, or the page the customer acts on, behind an
   * unguessable one-time link (gone once used: completeAction).
   */
  private async authorization(paymentId: string, method: string): Promise<[string, string, string]> {
    const { to, reason = '' } = outcomeOf(method);
    let merge = '';
    if (method === 'tok_capture_fails') merge = JSON.stringify({ captureRefused: true });
    if (method === 'tok_3ds' && this.actionUrl) {
      const secret = randomBytes(24).toString('base64url');
      await this.redis.set(this.keys.providerAction(secret), paymentId, 'EX', 86_400);
      merge = JSON.stringify({ action: { url: this.actionUrl(secret) } });
    }
    return [to, reason, merge];
  }

  /** The payment an action link is for, while the link is unused. */
  async actionFor(secret: string): Promise<ProviderPayment | undefined> {
    const paymentId = await this.redis.get(this.keys.providerAction(secret));
    return paymentId ? this.retrieve(paymentId) : undefined;
  }

  /**
   * The customer acts on the page (Approve or Decline): the link is used up first, atomically, so a
   * second click, a replay or another tab changes nothing. Undefined for a link unknown or used.
   */
  async completeAction(secret: string, outcome: 'approve' | 'decline'): Promise<ProviderPayment | undefined> {
    const paymentId = await this.redis.getdel(this.keys.providerAction(secret));
    if (!paymentId) return undefined;
    const raw = await this.redis.paymentOp(
      this.keys.providerPayment(paymentId),
      'complete',
      outcome === 'approve' ? 'complete' : 'fail',
      '',
    );
    return raw ? shown(JSON.parse(raw) as Stored) : undefined;
  }

  async retrieve(paymentId: string): Promise<ProviderPayment> {
    return shown(await this.get(paymentId));
  }

  async findByPurchase(purchaseId: string): Promise<ProviderPayment | undefined> {
    const raw = await this.redis.get(this.keys.providerPayment(builtinPaymentId(purchaseId)));
    return raw ? shown(JSON.parse(raw) as Stored) : undefined;
  }

  capture(req: { paymentId: string }): Promise<ProviderPayment> {
    return this.op(req.paymentId, 'capture');
  }

  void(req: { paymentId: string }): Promise<ProviderPayment> {
    return this.op(req.paymentId, 'void');
  }

  refund(req: { paymentId: string }): Promise<ProviderPayment> {
    return this.op(req.paymentId, 'refund');
  }

  async *list(since?: Date): AsyncIterable<ProviderPayment> {
    const keys = await scanKeys(this.redis, this.keys.patterns.providerPayment);
    const payments = await jsonValues<Stored>(this.redis, keys);
    const from = since?.toISOString() ?? '';
    yield* payments
      .filter((p) => p.createdAt >= from)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
      .map(shown);
  }

  private async get(paymentId: string): Promise<Stored> {
    const raw = await this.redis.get(this.keys.providerPayment(paymentId));
    if (!raw) throw new Error(`no payment ${paymentId} at the built-in provider`);
    return JSON.parse(raw) as Stored;
  }

  private async op(
    paymentId: string,
    op: 'authorize' | 'capture' | 'void' | 'refund',
    to = '',
    reason = '',
    merge = '',
    create = '',
  ): Promise<ProviderPayment> {
    const raw = await this.redis.paymentOp(this.keys.providerPayment(paymentId), op, to, reason, merge, create);
    if (!raw) throw new Error(`no payment ${paymentId} at the built-in provider`);
    return shown(JSON.parse(raw) as Stored);
  }
}

/** The purchase's payment as prepare creates it: under the id derived from the purchase, nothing held. */
function created(req: PrepareRequest): Stored {
  return {
    id: builtinPaymentId(req.purchaseId),
    purchaseId: req.purchaseId,
    state: 'created',
    amount: req.amount,
    currency: req.currency,
    captured: 0,
    refunded: 0,
    createdAt: new Date().toISOString(),
    capture: req.capture,
  };
}

/** The payment as the interface shows it: the provider's own bookkeeping left out. */
function shown({ capture: _capture, captureRefused: _refused, ...payment }: Stored): ProviderPayment {
  return payment;
}
