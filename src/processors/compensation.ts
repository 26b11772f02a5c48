import type { Job } from 'bullmq';
import { ERRORS } from '../errors.js';
import { plannedUndos } from '../flows/compensation-plan.js';
import type { SagaJobData } from '../queues/contract.js';
import type { NotificationType } from '../stores/domain-stores.js';
import type { WorkerContext } from './context.js';
import { finishPurchase } from './finish.js';
import { inventoryHandlers } from './inventory.js';
import { notify } from './notify.js';
import { paymentHandlers } from './payment.js';
import { provisioningHandlers } from './provisioning.js';

const NOTIFICATION_FOR: Partial<Record<string, NotificationType>> = {
  out_of_stock: 'out_of_stock',
  payment_failed: 'payment_failed',
};

/**
 * The compensation queue: the undo jobs (which live beside their forward steps)
 * and `settle`, which ends the purchase as failed and tells the customer.
 */
export function compensationHandlers(ctx: WorkerContext) {
  const { purchases } = ctx.stores;
  const { release, restock } = inventoryHandlers(ctx);
  const { refund } = paymentHandlers(ctx);
  const { deprovision } = provisioningHandlers(ctx);

  const settle = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record || record.phase === 'done') return 'done';
    const notUndone = plannedUndos(record).filter(({ step }) => record.steps[step.name] === 'completed');
    const review = record.review ?? (notUndone.length ? `not compensated: ${notUndone.map((u) => u.step.name).join(', ')}` : undefined);
    if (review) ctx.log.error({ purchaseId: id, requestId: record.requestId, review }, 'purchase failed with compensation incomplete: needs review');

    const error = record.error ?? { code: 'purchase_failed' as const, detail: 'purchase failed' };
    const refunded = record.payment.status === 'refunded';
    const money = refunded ? ' Your payment was refunded.' : record.payment.status === 'captured' ? ' Your refund is being processed.' : ' You were not charged.';
    const type = NOTIFICATION_FOR[error.code] ?? 'purchase_failed';
    await notify(ctx, record.customerId, id, {
      type,
      message: `Purchase ${id} failed: ${ERRORS[error.code].title.toLowerCase()}. ${error.detail}.${money}`,
      details: { code: error.code, step: error.step, detail: error.detail, refunded, payment: record.payment },
    });
    if (await finishPurchase(ctx, id, 'failed', review ? { review } : {})) {
      ctx.metrics.purchases.inc({ status: 'failed', code: error.code });
      if (review) ctx.metrics.review.inc();
    }
    ctx.log.info({ purchaseId: id, requestId: record.requestId, code: error.code }, 'purchase failed and compensated');
    return 'failed';
  };

  return { release, refund, restock, deprovision, settle };
}
