import { StepError } from '../../errors.js';
import { chargeKey, refundKey } from '../../ids.js';
import { messages } from '../../purchase/messages.js';
import { amountDue } from '../../purchase/pricing.js';
import { defineStep } from '../define-step.js';

/** Charge and refund, both keyed by purchase so a re-run never moves money twice. */
export const payment = defineStep({
  name: 'payment',
  failure: 'payment_failed',
  fault: 'payment.charge',
  async invoke(ctx, record) {
    const plan = record.plan!;
    const amount = amountDue(plan, record.allocation);
    if (amount === 0) return { payment: { status: 'none', amount: 0, currency: plan.currency } };
    const result = await ctx.provider.charge({
      idempotencyKey: chargeKey(record.id),
      token: record.request.paymentToken,
      amount,
      currency: plan.currency,
      description: `purchase ${record.id}`,
    });
    if (result.status === 'declined') {
      await ctx.stores.purchases.patch(record.id, { payment: { status: 'declined', amount, currency: plan.currency } });
      throw new StepError('payment_failed', messages.declined(result.reason));
    }
    return { payment: { status: 'captured', amount, currency: plan.currency, chargeId: result.chargeId } };
  },
  compensate: {
    job: 'refund',
    async run(ctx, record) {
      let payment = record.payment;
      if (payment.status === 'refunded') return false;
      if (payment.status !== 'captured') {
        // The charge may have gone through with its answer lost (a crash mid-step): ask the provider.
        const lost = await ctx.provider.findCharge(chargeKey(record.id));
        if (lost?.status !== 'captured') return false;
        payment = {
          status: 'captured',
          amount: amountDue(record.plan!, record.allocation),
          currency: record.plan!.currency,
          chargeId: lost.chargeId,
        };
      }
      const { refundId } = await ctx.provider.refund({
        idempotencyKey: refundKey(record.id),
        chargeId: payment.chargeId!,
        amount: payment.amount,
      });
      await ctx.stores.purchases.patch(record.id, { payment: { ...payment, status: 'refunded', refundId } });
      return true;
    },
  },
});
