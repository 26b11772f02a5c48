import type Stripe from 'stripe';
import { invalid, noSuch, rejected } from './errors.js';
import type { Events, RequestContext } from './events.js';
import type { Params } from './form.js';
import { listPage, type Ledger } from './ledger.js';
import { newRefund, snapshot } from './objects.js';

const REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const;
const money = (n: number) => `$${(n / 100).toFixed(2)}`;

/** `/v1/refunds…` and the read side of `/v1/charges…`. Refunds succeed at once (no pending or failed refunds). */
export class Refunds {
  constructor(
    private readonly ledger: Ledger,
    private readonly events: Events,
  ) {}

  create(p: Params, ctx: RequestContext): Stripe.Refund {
    p.allow([
      'payment_intent',
      'charge',
      'amount',
      'metadata',
      'reason',
      'expand',
      'instructions_email',
      'origin',
      'refund_application_fee',
      'reverse_transfer',
    ]);
    const charge = this.chargeToRefund(p);
    const amount = p.integer('amount');
    if (amount !== undefined && amount < 1) throw invalid('Invalid positive integer', { param: 'amount' });
    const remaining = charge.amount_captured - charge.amount_refunded;
    if (remaining <= 0) {
      throw rejected(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
    }
    const refunding = amount ?? remaining;
    if (refunding > remaining) {
      throw rejected(
        `Refund amount (${money(refunding)}) is greater than unrefunded amount on charge (${money(remaining)})`,
        { param: 'amount' },
      );
    }
    const refund = newRefund({
      amount: refunding,
      charge,
      created: this.ledger.seconds(),
      metadata: p.metadata() ?? {},
      reason: p.oneOf('reason', REASONS) ?? null,
    });
    this.ledger.refunds.set(refund.id, refund);
    charge.amount_refunded += refunding;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    this.events.emit('refund.created', refund, ctx);
    this.events.emit('charge.refunded', charge, ctx);
    return this.render(refund, p);
  }

  retrieve(id: string, p: Params): Stripe.Refund {
    p.allow(['expand']);
    const refund = this.ledger.refunds.get(id);
    if (!refund) throw noSuch('refund', id, 'id');
    return this.render(refund, p);
  }

  update(id: string, p: Params): Stripe.Refund {
    p.allow(['metadata', 'expand']);
    const refund = this.ledger.refunds.get(id);
    if (!refund) throw noSuch('refund', id, 'id');
    refund.metadata = p.metadata(refund.metadata ?? {}) ?? refund.metadata;
    return this.render(refund, p);
  }

  list(p: Params): Stripe.ApiList<Stripe.Refund> {
    p.allow(['payment_intent', 'charge', 'limit', 'starting_after', 'ending_before', 'created', 'expand']);
    const pi = p.string('payment_intent');
    const charge = p.string('charge');
    const all = [...this.ledger.refunds.values()].filter(
      (r) => (!pi || r.payment_intent === pi) && (!charge || r.charge === charge),
    );
    const page = listPage(all, p, '/v1/refunds', 'refund');
    return { ...page, data: page.data.map(snapshot) };
  }

  charge(id: string, p: Params): Stripe.Charge {
    p.allow(['expand']);
    const charge = this.ledger.charges.get(id);
    if (!charge) throw noSuch('charge', id, 'charge');
    return snapshot(charge);
  }

  charges(p: Params): Stripe.ApiList<Stripe.Charge> {
    p.allow(['payment_intent', 'customer', 'limit', 'starting_after', 'ending_before', 'created', 'expand']);
    const pi = p.string('payment_intent');
    const all = [...this.ledger.charges.values()].filter((c) => !pi || c.payment_intent === pi);
    const page = listPage(all, p, '/v1/charges', 'charge');
    return { ...page, data: page.data.map(snapshot) };
  }

  private chargeToRefund(p: Params): Stripe.Charge {
    const piId = p.string('payment_intent');
    const chargeId = p.string('charge');
    if (!piId && !chargeId) {
      throw invalid('One of the following params should be provided for this request: payment_intent or charge.');
    }
    if (piId) {
      const { pi } = this.ledger.intent(piId, 'payment_intent');
      const latest = typeof pi.latest_charge === 'string' ? this.ledger.charges.get(pi.latest_charge) : undefined;
      if (pi.status !== 'succeeded' || !latest) {
        throw rejected(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, {
          param: 'payment_intent',
        });
      }
      if (chargeId && chargeId !== latest.id) {
        throw invalid(`Charge ${chargeId} does not belong to PaymentIntent ${pi.id}.`, { param: 'charge' });
      }
      return latest;
    }
    const charge = this.ledger.charges.get(chargeId!);
    if (!charge) throw noSuch('charge', chargeId!, 'charge', 400);
    if (charge.status !== 'succeeded') {
      throw rejected(`The charge ${charge.id} has failed and cannot be refunded.`, { param: 'charge' });
    }
    if (!charge.captured) {
      throw rejected(
        `This PaymentIntent (${String(charge.payment_intent)}) does not have a successful charge to refund.`,
        {
          param: 'charge',
        },
      );
    }
    return charge;
  }

  private render(refund: Stripe.Refund, p: Params): Stripe.Refund {
    const out = snapshot(refund);
    for (const field of p.list('expand')) {
      if (field === 'charge' && typeof out.charge === 'string')
        out.charge = snapshot(this.ledger.charges.get(out.charge)!);
      else if (field === 'payment_intent' && typeof out.payment_intent === 'string') {
        out.payment_intent = snapshot(this.ledger.intent(out.payment_intent).pi);
      } else if (field !== 'charge' && field !== 'payment_intent') {
        throw invalid(`This property cannot be expanded (${field}).`, { param: 'expand' });
      }
    }
    return out;
  }
}
