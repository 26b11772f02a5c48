import { amountDue } from '../domain/pricing.js';
import { StepError } from '../errors.js';
import type { WorkerContext } from './context.js';
import { forwardStep, undoStep } from './step-runner.js';

/** Provider idempotency keys: one charge and one refund per purchase, whatever the retries. */
export const chargeKey = (purchaseId: string) => `${purchaseId}-charge`;
export const refundKey = (purchaseId: string) => `${purchaseId}-refund`;
export const purchaseOfChargeKey = (key: string) => key.replace(/-charge$/, '');

/** Charge and refund, both keyed by purchase so a re-run never moves money twice. */
export function paymentHandlers(ctx: WorkerContext) {
  const { purchases } = ctx.stores;
  return {
    charge: forwardStep(ctx, 'payment', async (record) => {
      const plan = record.plan!;
      const amount = amountDue(plan, record.allocation);
      if (amount === 0) return { payment: { status: 'none', amount: 0, currency: plan.currency } };
      await ctx.injectFault('payment.charge');
      const result = await ctx.provider.charge({
        idempotencyKey: chargeKey(record.id),
        token: record.request.paymentToken,
        amount,
        currency: plan.currency,
        description: `purchase ${record.id}`,
      });
      if (result.status === 'declined') {
        await purchases.patch(record.id, { payment: { status: 'declined', amount, currency: plan.currency } });
        throw new StepError('payment_failed', `payment declined: ${result.reason}`);
      }
      return { payment: { status: 'captured', amount, currency: plan.currency, chargeId: result.chargeId } };
    }),

    refund: undoStep(ctx, 'payment', async (record) => {
      let payment = record.payment;
      if (payment.status === 'refunded') return false;
      if (payment.status !== 'captured') {
        // The charge may have gone through with its answer lost (a crash mid-step): ask the provider.
        const lost = await ctx.provider.findCharge(chargeKey(record.id));
        if (lost?.status !== 'captured') return false;
        payment = { status: 'captured', amount: amountDue(record.plan!, record.allocation), currency: record.plan!.currency, chargeId: lost.chargeId };
      }
      const { refundId } = await ctx.provider.refund({
        idempotencyKey: refundKey(record.id),
        chargeId: payment.chargeId!,
        amount: payment.amount,
      });
      await purchases.patch(record.id, { payment: { ...payment, status: 'refunded', refundId } });
      return true;
    }),
  };
}
