import type { ProviderPayment } from '../../adapters/payments.js';
import { StepError } from '../../errors.js';
import { paymentKey } from '../../ids.js';
import { messages } from '../../purchase/messages.js';
import { amountDue } from '../../purchase/pricing.js';
import type { PaymentInfo, PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { actionRequiredDraft } from '../../purchase/notifications.js';
import { defineStep } from '../define-step.js';
import { notify } from '../notify.js';
import { WaitFor } from '../wait.js';

/** The record's payment status for what the provider says. */
const STATUS: Record<ProviderPayment['state'], PaymentInfo['status'] | undefined> = {
  created: 'none',
  requires_action: 'requires_action',
  authorized: 'authorized',
  captured: 'captured',
  voided: 'voided',
  refunded: 'refunded',
  failed: 'declined',
  pending: undefined,
};

const recorded = (record: PurchaseRecord, p: ProviderPayment): PaymentInfo => ({
  status: STATUS[p.state] ?? record.payment.status,
  amount: p.amount,
  currency: p.currency,
  paymentId: p.id,
});

/**
 * Authorizes the amount due (PAYMENT_CAPTURE=pivot: the pivot captures it) or takes it at once
 * (immediate). The provider's payment is created first and its id recorded before any money
 * moves, so a lost answer, a crash or a retry days later is resolved by asking the provider for
 * that payment, never by creating another; a provider that finds it by the purchase alone creates
 * and authorizes it in one call.
 */
export const payment = defineStep({
  name: 'payment',
  failure: 'payment_failed',
  fault: 'payment.charge',
  async invoke(ctx, record) {
    const plan = record.plan!;
    const amount = amountDue(plan, record.allocation);
    if (amount === 0) return { payment: { status: 'none', amount: 0, currency: plan.currency } };
    const prepare = {
      idempotencyKey: paymentKey(record.id, 'prepare'),
      purchaseId: record.id,
      amount,
      currency: plan.currency,
      description: `purchase ${record.id}`,
      capture: ctx.paymentCapture === 'pivot' ? ('manual' as const) : ('automatic' as const),
    };
    const authorize = {
      idempotencyKey: paymentKey(record.id, 'authorize'),
      method: record.request.paymentToken,
      returnUrl: record.request.returnUrl,
    };
    let current: ProviderPayment;
    if (record.payment.paymentId) current = await ctx.provider.retrieve(record.payment.paymentId);
    // Found again by the purchase alone: nothing to record before money moves.
    else if (ctx.provider.prepareAndAuthorize)
      current = await ctx.provider.prepareAndAuthorize({ ...prepare, ...authorize });
    else {
      current = await ctx.provider.prepare(prepare);
      await ctx.stores.purchases.patch(record.id, { payment: recorded(record, current) });
    }
    const paymentId = current.id;
    if (current.state === 'created') current = await ctx.provider.authorize({ ...authorize, paymentId });
    if (current.state === 'authorized' || current.state === 'captured') return { payment: recorded(record, current) };
    if (current.state === 'pending') throw new Error(`payment ${paymentId} still pending at the provider`);
    if (current.state === 'requires_action') return waitForCustomer(ctx, record, current);
    // The customer's action failed: what the provider still holds for it is released.
    const acted = record.payment.status === 'requires_action';
    const final = acted ? await voidPayment(ctx, record, current) : current;
    await ctx.stores.purchases.patch(record.id, { payment: recorded(record, final) });
    throw new StepError(
      'payment_failed',
      acted ? messages.actionFailed : messages.declined(current.reason ?? 'declined'),
    );
  },
  compensate: {
    job: 'refund',
    // The provider says what there is to undo: a hold is voided, a charge refunded, nothing else touched.
    async run(ctx, record) {
      const paymentId = await paymentIdOf(ctx, record);
      if (!paymentId) return false;
      const before = await ctx.provider.retrieve(paymentId);
      const after = await undoPayment(ctx, record, before);
      if (after.state === 'pending') throw new Error(`payment ${paymentId}: its undo is still pending at the provider`);
      // A payment never authorized is voided at the provider too, but nothing was ever held: the customer sees none.
      const shown =
        before.state === 'created' ? { ...recorded(record, after), status: 'none' as const } : recorded(record, after);
      await ctx.stores.purchases.patch(record.id, { payment: shown });
      return after.state !== before.state;
    },
    // Held or taken at the provider for a purchase that ended without its products.
    async leftover(ctx, record) {
      const paymentId = await paymentIdOf(ctx, record);
      if (!paymentId) return false;
      const { state } = await ctx.provider.retrieve(paymentId);
      return state === 'authorized' || state === 'requires_action' || state === 'captured';
    },
  },
});

/** The purchase's payment at the provider: recorded, or found by purchase (a crash before the id was recorded). */
const paymentIdOf = async (ctx: SagaContext, record: PurchaseRecord) =>
  record.payment.paymentId ?? (await ctx.provider.findByPurchase(record.id))?.id;

const voidPayment = (ctx: SagaContext, record: PurchaseRecord, p: ProviderPayment) =>
  ctx.provider.void({ idempotencyKey: paymentKey(record.id, 'void'), paymentId: p.id });

/**
 * The provider needs the customer (3-D Secure): the purchase waits for them until its deadline
 * (PAYMENT_ACTION_TIMEOUT_S), holding no worker (WaitFor), and is told where to go once. Woken (the
 * action page, a webhook, its own check), it asks the provider again; past the deadline the payment
 * is voided and the purchase fails — unless the customer finished just then and the void finds it held.
 */
async function waitForCustomer(ctx: SagaContext, record: PurchaseRecord, current: ProviderPayment) {
  const known = record.payment.actionExpiresAt;
  const until = known ? Date.parse(known) : Date.now() + ctx.paymentActionTimeoutMs;
  if (Date.now() >= until) {
    const voided = await voidPayment(ctx, record, current);
    if (voided.state === 'authorized' || voided.state === 'captured') return { payment: recorded(record, voided) };
    await ctx.stores.purchases.patch(record.id, { payment: recorded(record, voided) });
    throw new StepError('payment_failed', messages.actionTimedOut);
  }
  const actionExpiresAt = new Date(until).toISOString();
  const url = current.action?.url;
  if (!known) await notify(ctx, record.customerId, record.id, actionRequiredDraft(url, actionExpiresAt));
  throw new WaitFor(until, {
    status: 'requires_action',
    payment: {
      ...recorded(record, current),
      ...(url ? { nextAction: { type: 'redirect' as const, url } } : {}),
      actionExpiresAt,
    },
  });
}

async function undoPayment(ctx: SagaContext, record: PurchaseRecord, p: ProviderPayment): Promise<ProviderPayment> {
  if (p.state === 'created' || p.state === 'requires_action' || p.state === 'authorized') {
    p = await voidPayment(ctx, record, p);
    // Captured meanwhile (the pivot's capture raced the failure): it is refunded below.
    if (p.state !== 'captured') return p;
  }
  if (p.state === 'captured')
    return ctx.provider.refund({ idempotencyKey: paymentKey(record.id, 'refund'), paymentId: p.id });
  return p;
}

/**
 * The pivot's capture, just before the order is placed: an authorization becomes a charge, and the
 * payment to record with the order is answered (undefined when there was nothing to capture). Taken
 * already (a re-run, or PAYMENT_CAPTURE=immediate) is success; refused for good (an expired hold)
 * fails the purchase with payment_failed, and compensation finds nothing held.
 */
export async function captureAtPivot(ctx: SagaContext, record: PurchaseRecord): Promise<PaymentInfo | undefined> {
  if (record.payment.status !== 'authorized') return undefined;
  const captured = await ctx.provider.capture({
    idempotencyKey: paymentKey(record.id, 'capture'),
    paymentId: record.payment.paymentId!,
    amount: record.payment.amount,
  });
  if (captured.state === 'pending') throw new Error(`payment ${captured.id}: capture still pending at the provider`);
  if (captured.state === 'captured') return recorded(record, captured);
  await ctx.stores.purchases.patch(record.id, { payment: recorded(record, captured) });
  throw new StepError('payment_failed', messages.captureRefused(captured.reason ?? captured.state));
}
