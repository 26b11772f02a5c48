import type Stripe from 'stripe';
import { invalid, noSuch } from './errors.js';
import type { Params } from './form.js';
import { PaymentMethods } from './payment-methods.js';

/** What this server knows about a PaymentIntent beyond its public fields. */
export interface IntentState {
  pi: Stripe.PaymentIntent;
  /** `return_url` of the current confirmation, for the 3-D Secure page's redirect. */
  returnUrl: string | null;
  /** Set by the control API: the next capture fails with this code (the authorization expired). */
  failNextCapture: string | null;
}

/** The server's books, in memory: PaymentIntents, Charges, Refunds, Events, and the server's clock. */
export class Ledger {
  readonly intents = new Map<string, IntentState>();
  readonly charges = new Map<string, Stripe.Charge>();
  readonly refunds = new Map<string, Stripe.Refund>();
  readonly events = new Map<string, Stripe.Event>();
  readonly methods = new PaymentMethods();
  private clockOffsetMs = 0;

  /** The server's clock in ms; the control API may move it forward (never back, so creation order holds). */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  advance(seconds: number): void {
    if (!(seconds >= 0)) throw new Error('the clock only moves forward');
    this.clockOffsetMs += seconds * 1000;
  }

  intent(id: string, param = 'intent'): IntentState {
    const state = this.intents.get(id);
    if (!state) throw noSuch('payment_intent', id, param, param === 'intent' ? 404 : 400);
    return state;
  }

  reset(): void {
    this.intents.clear();
    this.charges.clear();
    this.refunds.clear();
    this.events.clear();
    this.methods.clear();
    this.clockOffsetMs = 0;
  }
}

type Listed = { id: string; created: number };

/** `created` filter of list endpoints: an exact second or `created[gt|gte|lt|lte]`. */
export function createdFilter(params: Params): (o: Listed) => boolean {
  const raw = params.raw.created;
  if (raw === undefined) return () => true;
  if (typeof raw === 'string') {
    const exact = params.integer('created')!;
    return (o) => o.created === exact;
  }
  const bounds = new Map<string, number>();
  for (const op of ['gt', 'gte', 'lt', 'lte']) {
    const v = (raw as Record<string, unknown>)[op];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !/^\d+$/.test(v)) {
      throw invalid(`Invalid integer: ${String(v)}`, { param: `created[${op}]`, code: 'parameter_invalid_integer' });
    }
    bounds.set(op, Number(v));
  }
  return (o) =>
    (!bounds.has('gt') || o.created > bounds.get('gt')!) &&
    (!bounds.has('gte') || o.created >= bounds.get('gte')!) &&
    (!bounds.has('lt') || o.created < bounds.get('lt')!) &&
    (!bounds.has('lte') || o.created <= bounds.get('lte')!);
}

/**
 * One page of a Stripe list, newest first: `limit` (1–100, default 10), cursors `starting_after` / `ending_before`
 * (an object id), `has_more`. `all` is in creation order.
 */
export function listPage<T extends Listed>(
  all: Iterable<T>,
  params: Params,
  url: string,
  kind: string,
): Stripe.ApiList<T> {
  const limit = params.integer('limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalid('This value must be greater than or equal to 1 and less than or equal to 100.', { param: 'limit' });
  }
  const after = params.string('starting_after');
  const before = params.string('ending_before');
  const matches = createdFilter(params);
  const items = [...all].reverse().filter(matches);
  let data: T[];
  let hasMore: boolean;
  if (after !== undefined) {
    const i = items.findIndex((o) => o.id === after);
    if (i < 0) throw noSuch(kind, after, 'starting_after', 400);
    data = items.slice(i + 1, i + 1 + limit);
    hasMore = items.length > i + 1 + limit;
  } else if (before !== undefined) {
    const i = items.findIndex((o) => o.id === before);
    if (i < 0) throw noSuch(kind, before, 'ending_before', 400);
    data = items.slice(Math.max(0, i - limit), i);
    hasMore = i - limit > 0;
  } else {
    data = items.slice(0, limit);
    hasMore = items.length > limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}
