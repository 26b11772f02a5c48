import type Stripe from 'stripe';
import { invalid, noSuch, unexpectedState } from './errors.js';
import type { Events, RequestContext } from './events.js';
import type { Params } from './form.js';
import { listPage, type IntentState, type Ledger } from './ledger.js';
import { newPaymentIntent, snapshot } from './objects.js';
import { searchIntents } from './search.js';
import type { Transitions } from './transitions.js';

/** Parameters Stripe accepts that this server takes without acting on them. */
const PASSIVE = [
  'application_fee_amount',
  'confirmation_method',
  'mandate_data',
  'on_behalf_of',
  'payment_method_options',
  'radar_options',
  'setup_future_usage',
  'shipping',
  'statement_descriptor_suffix',
  'transfer_data',
  'transfer_group',
  'use_stripe_sdk',
];
const CONFIRM = ['payment_method', 'return_url', 'off_session', 'error_on_requires_action', 'expand', 'receipt_email'];
const CREATE = [
  ...CONFIRM,
  ...PASSIVE,
  'amount',
  'currency',
  'capture_method',
  'confirm',
  'payment_method_types',
  'automatic_payment_methods',
  'metadata',
  'description',
  'statement_descriptor',
  'customer',
];
const UPDATE = [...PASSIVE, 'amount', 'currency', 'metadata', 'description', 'payment_method', 'capture_method'];
const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const;
const CANCEL_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const;
const CHANGEABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

/** `/v1/payment_intents…`: parameters in, PaymentIntent (expanded as asked) out. */
export class PaymentIntents {
  constructor(
    private readonly ledger: Ledger,
    private readonly events: Events,
    private readonly transitions: Transitions,
  ) {}

  create(p: Params, ctx: RequestContext): Stripe.PaymentIntent {
    p.allow(CREATE);
    const amount = validAmount(p);
    const currency = validCurrency(p.required('currency'));
    const types = p.list('payment_method_types');
    const apm = p.hash('automatic_payment_methods');
    if (types.length > 0 && apm?.enabled === 'true') {
      throw invalid('You may only specify one of these parameters: automatic_payment_methods, payment_method_types.');
    }
    const confirm = p.boolean('confirm') ?? false;
    for (const name of ['return_url', 'off_session', 'error_on_requires_action']) {
      if (p.has(name) && !confirm)
        throw invalid(`You can only specify \`${name}\` when \`confirm\` is true.`, { param: name });
    }
    const redirects = apm?.allow_redirects;
    const method = p.string('payment_method');
    const resolved = method === undefined ? undefined : this.method(method);
    const state: IntentState = {
      pi: newPaymentIntent({
        amount,
        currency,
        capture_method: p.oneOf('capture_method', CAPTURE_METHODS) === 'manual' ? 'manual' : 'automatic',
        created: this.ledger.seconds(),
        metadata: p.metadata() ?? {},
        description: p.string('description') ?? null,
        payment_method_types: types.length > 0 ? types : undefined,
        allow_redirects: redirects === 'never' || redirects === 'always' ? redirects : undefined,
        receipt_email: p.string('receipt_email') ?? null,
        statement_descriptor: p.string('statement_descriptor') ?? null,
        customer: p.string('customer') ?? null,
      }),
      returnUrl: null,
      failNextCapture: null,
    };
    if (resolved) {
      state.pi.payment_method = resolved.pm.id;
      state.pi.status = 'requires_confirmation';
    }
    if (confirm) this.checkConfirmable(state, p);
    this.ledger.intents.set(state.pi.id, state);
    this.events.emit('payment_intent.created', state.pi, ctx);
    if (confirm) this.runAttempt(state, p, ctx);
    return this.render(state.pi, p);
  }

  retrieve(id: string, p: Params): Stripe.PaymentIntent {
    p.allow(['expand', 'client_secret']);
    return this.render(this.ledger.intent(id).pi, p);
  }

  update(id: string, p: Params): Stripe.PaymentIntent {
    p.allow([...UPDATE, 'expand', 'receipt_email', 'statement_descriptor', 'customer', 'payment_method_types']);
    const { pi } = this.ledger.intent(id);
    const restricted = ['amount', 'currency', 'payment_method', 'capture_method'].filter((k) => p.has(k));
    if (restricted.length > 0 && !CHANGEABLE.includes(pi.status)) {
      throw unexpectedState(
        snapshot(pi),
        `This PaymentIntent's ${restricted[0]} could not be updated because it has a status of ${pi.status}. You may only update the ${restricted[0]} of a PaymentIntent with one of the following statuses: ${CHANGEABLE.join(', ')}.`,
      );
    }
    if (p.has('amount')) pi.amount = validAmount(p);
    if (p.has('currency')) pi.currency = validCurrency(p.required('currency'));
    if (p.has('capture_method')) {
      pi.capture_method = p.oneOf('capture_method', CAPTURE_METHODS) === 'manual' ? 'manual' : 'automatic';
    }
    const method = p.string('payment_method');
    if (method !== undefined) {
      pi.payment_method = this.method(method).pm.id;
      pi.status = 'requires_confirmation';
      pi.next_action = null;
    }
    pi.metadata = p.metadata(pi.metadata) ?? pi.metadata;
    if (p.has('description')) pi.description = p.string('description') || null;
    if (p.has('receipt_email')) pi.receipt_email = p.string('receipt_email') || null;
    return this.render(pi, p);
  }

  confirm(id: string, p: Params, ctx: RequestContext): Stripe.PaymentIntent {
    p.allow([...CONFIRM, ...PASSIVE, 'capture_method', 'payment_method_types', 'client_secret']);
    const state = this.ledger.intent(id);
    const method = p.string('payment_method');
    const resolved = method === undefined ? undefined : this.method(method);
    this.checkConfirmable(state, p);
    if (resolved) state.pi.payment_method = resolved.pm.id;
    if (p.has('capture_method')) {
      state.pi.capture_method = p.oneOf('capture_method', CAPTURE_METHODS) === 'manual' ? 'manual' : 'automatic';
    }
    this.runAttempt(state, p, ctx);
    return this.render(state.pi, p);
  }

  capture(id: string, p: Params, ctx: RequestContext): Stripe.PaymentIntent {
    p.allow(['amount_to_capture', 'expand', 'metadata', 'final_capture', ...PASSIVE, 'statement_descriptor']);
    const state = this.ledger.intent(id);
    const amount = p.integer('amount_to_capture');
    if (amount !== undefined && amount < 1) {
      throw invalid('This value must be greater than or equal to 1.', { param: 'amount_to_capture' });
    }
    this.transitions.capture(state, amount, ctx);
    state.pi.metadata = p.metadata(state.pi.metadata) ?? state.pi.metadata;
    return this.render(state.pi, p);
  }

  cancel(id: string, p: Params, ctx: RequestContext): Stripe.PaymentIntent {
    p.allow(['cancellation_reason', 'expand']);
    const state = this.ledger.intent(id);
    const reason = p.oneOf('cancellation_reason', CANCEL_REASONS) ?? null;
    this.transitions.cancel(state, reason, ctx);
    return this.render(state.pi, p);
  }

  list(p: Params): Stripe.ApiList<Stripe.PaymentIntent> {
    p.allow(['limit', 'starting_after', 'ending_before', 'created', 'customer', 'expand']);
    const customer = p.string('customer');
    const all = [...this.ledger.intents.values()]
      .map((s) => s.pi)
      .filter((pi) => !customer || pi.customer === customer);
    const page = listPage(all, p, '/v1/payment_intents', 'payment_intent');
    return { ...page, data: page.data.map((pi) => this.render(pi, p, 'data.')) };
  }

  search(p: Params): Stripe.ApiSearchResult<Stripe.PaymentIntent> {
    p.allow(['query', 'limit', 'page', 'expand']);
    const result = searchIntents(
      [...this.ledger.intents.values()].map((s) => s.pi),
      p,
    );
    return { ...result, data: result.data.map((pi) => this.render(pi, p, 'data.')) };
  }

  private method(id: string) {
    const m = this.ledger.methods.resolve(id, this.ledger.seconds());
    if (!m) throw noSuch('PaymentMethod', id, 'payment_method', 400);
    return m;
  }

  private checkConfirmable(state: IntentState, p: Params): void {
    const { pi } = state;
    if (!CHANGEABLE.includes(pi.status)) {
      throw unexpectedState(
        snapshot(pi),
        pi.status === 'succeeded'
          ? 'You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.'
          : `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: ${CHANGEABLE.join(', ')}.`,
      );
    }
    if (pi.payment_method === null && !p.has('payment_method')) {
      throw unexpectedState(
        snapshot(pi),
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
      );
    }
    const apm = pi.automatic_payment_methods;
    if (apm?.enabled && apm.allow_redirects !== 'never' && !p.has('return_url')) {
      throw invalid(
        "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these payment methods might redirect your customer off of your page, you must provide a `return_url`. If you don't want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.",
      );
    }
  }

  private runAttempt(state: IntentState, p: Params, ctx: RequestContext): void {
    const method = this.ledger.methods.get(String(state.pi.payment_method))!;
    const opts = {
      returnUrl: p.string('return_url') ?? null,
      offSession: p.boolean('off_session') ?? false,
      errorOnRequiresAction: p.boolean('error_on_requires_action') ?? false,
    };
    this.transitions.attempt(state, method, opts, ctx);
  }

  /** A snapshot of the PaymentIntent with `expand[]` applied (`latest_charge`, `payment_method`). */
  private render(pi: Stripe.PaymentIntent, p: Params, prefix = ''): Stripe.PaymentIntent {
    const out = snapshot(pi);
    for (const path of p.list('expand')) {
      if (prefix && !path.startsWith(prefix)) continue;
      const field = path.slice(prefix.length);
      if (field === 'latest_charge' && typeof out.latest_charge === 'string') {
        out.latest_charge = snapshot(this.ledger.charges.get(out.latest_charge)!);
      } else if (field === 'payment_method' && typeof out.payment_method === 'string') {
        out.payment_method = snapshot(this.ledger.methods.get(out.payment_method)!.pm);
      } else if (field !== 'latest_charge' && field !== 'payment_method' && path !== 'total_count') {
        throw invalid(`This property cannot be expanded (${field}).`, { param: 'expand' });
      }
    }
    return out;
  }
}

function validAmount(p: Params): number {
  const amount = p.integer('amount');
  if (amount === undefined)
    throw invalid('Missing required param: amount.', { param: 'amount', code: 'parameter_missing' });
  if (amount < 50) throw invalid('Amount must be at least 50 cents', { param: 'amount', code: 'amount_too_small' });
  if (amount > 99_999_999) {
    throw invalid('Amount must be no more than 999,999.99', { param: 'amount', code: 'amount_too_large' });
  }
  return amount;
}

function validCurrency(currency: string): string {
  if (!/^[a-zA-Z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}.`, { param: 'currency' });
  return currency.toLowerCase();
}
