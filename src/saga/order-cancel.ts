import type { Job } from 'bullmq';
import { orderIdFor } from '../ids.js';
import { orderCanceledDraft } from '../purchase/notifications.js';
import type { SagaJobData } from '../queues/contract.js';
import type { SagaContext } from './context.js';
import { orderCancelFlows } from './flows.js';
import { notify } from './notify.js';
import { atOrderSettle, compensationPlan } from './transitions.js';

/**
 * The order-cancel saga: a second saga made of the first one's undos. The gateway records the
 * request (each planned undo pending, the purchase open again) and adds `cancel-order`, which
 * adds the undo flows; `settle-order` ends it once the money and stock are back.
 */
export function orderCancelRoots(ctx: SagaContext) {
  const { purchases, orders } = ctx.stores;

  /** Adds the undo flows (adding twice adds once): refund and restock under settle-order, deprovision beside it. */
  const start = async (job: Job<SagaJobData>): Promise<string> => {
    const record = await purchases.get(job.data.purchaseId);
    if (!record?.orderCancelRequestedAt) return 'nothing';
    await ctx.flows.addBulk(orderCancelFlows(record.id, compensationPlan(record), ctx.compensationPolicy));
    ctx.log.info({ purchaseId: record.id, requestId: record.requestId }, 'order cancel started');
    return 'started';
  };

  const settle = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const [record, order] = await Promise.all([purchases.get(id), orders.get(orderIdFor(id))]);
    const decision = atOrderSettle(record, order?.status);
    if (decision.do === 'nothing' || !record || !order) return 'done';
    const { review } = decision;
    if (review)
      ctx.log.error({ purchaseId: id, review }, 'order canceled with its compensation incomplete: needs review');
    await orders.replace({ ...order, status: 'canceled', canceledAt: new Date().toISOString() });
    await notify(ctx, record.customerId, id, orderCanceledDraft(record, order.id));
    // The write also tells a waiting gateway (a finished purchase's every update is an outcome event).
    await purchases.orderCanceled(id, review);
    if (review && !record.review) ctx.metrics.review.inc();
    ctx.log.info({ purchaseId: id, orderId: order.id }, 'order canceled');
    return 'canceled';
  };

  return { start, settle };
}
