import type { Job } from 'bullmq';
import { formatMoney } from '../domain/money.js';
import type { NotificationDraft } from '../domain/notifications.js';
import { fulfilledLines } from '../domain/pricing.js';
import { buildCompensationFlow } from '../flows/compensation-plan.js';
import { buildPurchaseFlow } from '../flows/purchase-flow.js';
import { STEPS, type SagaJobData } from '../queues/contract.js';
import type { PurchaseRecord } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';
import { finishPurchase } from './finish.js';
import type { StageSteps } from './forward-steps.js';
import { notify } from './notify.js';
import { orderIdFor } from './orders.js';
import { didNotComplete, isFinalAttempt, PROCEEDS, unfinishedBefore } from './step-runner.js';

/**
 * The orchestrator's own jobs: `start` (the `prepare` stage, which then adds the rest
 * of the saga as a flow) and `complete`, the flow's root, which finishes the purchase
 * or starts its compensation.
 */
export function orchestratorHandlers(ctx: WorkerContext, prepare: StageSteps) {
  const { purchases } = ctx.stores;

  /** Undoes what was done, latest first; steps that never ran are marked skipped. */
  const compensate = async (record: PurchaseRecord) => {
    await ctx.flows.add(buildCompensationFlow(record, ctx.compensationPolicy));
    const pending = STEPS.filter((s) => record.steps[s.name] === 'pending').map((s) => s.name);
    if (pending.length) await purchases.skip(record.id, pending);
  };

  /** The hand-off from the gateway: prepare, then the rest of the saga (deterministic ids: adding twice adds once). */
  const start = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    let failure: unknown;
    try {
      const outcomes = await prepare(job);
      if (outcomes.every((o) => PROCEEDS.has(o))) {
        await ctx.flows.add(buildPurchaseFlow(id, ctx.stepPolicy, ctx.rootAttempts));
        return 'started';
      }
    } catch (err) {
      // Not the last attempt: BullMQ retries the stage. The last one recorded the failure.
      if (!isFinalAttempt(job, err)) throw err;
      failure = err;
    }
    const record = await purchases.get(id);
    if (record?.phase === 'compensating') await compensate(record);
    // Rethrown so the operator sees the failed job; the purchase is already compensating.
    if (failure) throw failure;
    return record?.phase ?? 'missing';
  };

  const complete = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    let record = await purchases.get(id);
    if (!record || record.phase === 'done') return 'done';
    const stuck = record.phase === 'running' ? unfinishedBefore(record, 'notification') : undefined;
    if (stuck) {
      // An order in the OMS means the pivot was passed even if its step never recorded it (a crash).
      const order = await ctx.stores.orders.get(orderIdFor(id));
      if (order) await purchases.completeStep(id, 'order_placement', { orderId: order.id });
      else await purchases.failStep(id, stuck.name, didNotComplete(stuck.name));
      record = (await purchases.get(id))!;
    }
    if (record.phase === 'compensating') {
      await compensate(record);
      return 'compensating';
    }
    await sendConfirmations(ctx, record);
    const partial = record.allocation?.includes('out_of_stock') ?? false;
    const status = partial ? 'partially_fulfilled' : 'completed';
    if (await finishPurchase(ctx, id, status, {}, 'notification')) ctx.metrics.purchases.inc({ status, code: '' });
    ctx.log.info({ purchaseId: id, requestId: record.requestId, status }, 'purchase finished');
    return 'completed';
  };

  return { start, complete };
}

async function sendConfirmations(ctx: WorkerContext, record: PurchaseRecord): Promise<void> {
  const plan = record.plan!;
  const fulfilled = fulfilledLines(plan, record.allocation);
  const total = formatMoney(record.payment.amount, plan.currency);
  const describe = fulfilled.map(([l]) => `${l.quantity} × ${l.productId}`).join(', ');
  const drafts: NotificationDraft[] = [
    {
      type: 'order_confirmation',
      message: `Order ${record.orderId} placed: ${describe}; total ${total}.`,
      details: {
        orderId: record.orderId,
        items: fulfilled.map(([l]) => ({ productId: l.productId, quantity: l.quantity, unitPrice: l.unitPrice, customization: l.customization })),
        total: { amount: record.payment.amount, currency: plan.currency },
        appliedRules: plan.appliedRules,
      },
    },
    ...fulfilled.map(([l, i]): NotificationDraft => ({
      type: 'product_provisioned',
      seq: i,
      message: `${l.productId} is ready${l.dependencies.length ? ` (with ${l.dependencies.join(', ')})` : ''}.`,
      details: { productId: l.productId, quantity: l.quantity, customization: l.customization, dependencies: l.dependencies, orderId: record.orderId },
    })),
  ];
  if (record.allocation?.includes('out_of_stock')) {
    const policy = record.request.outOfStock;
    const lines = plan.lines.map((l, i) => ({
      productId: l.productId,
      quantity: l.quantity,
      outcome: record.allocation![i] === 'fulfilled' ? 'fulfilled' : policy === 'backorder' ? 'backordered' : 'removed',
    }));
    const missing = lines.filter((l) => l.outcome !== 'fulfilled').map((l) => `${l.productId} ${l.outcome}`);
    drafts.push({ type: 'partial_fulfillment', message: `Part of your order could not be fulfilled: ${missing.join(', ')}.`, details: { orderId: record.orderId, lines } });
  }
  await notify(ctx, record.customerId, record.id, ...drafts);
}
