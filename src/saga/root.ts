import type { Job } from 'bullmq';
import { orderIdFor } from '../ids.js';
import { cancelDraft, failureDraft } from '../purchase/notifications.js';
import type { SagaJobData } from '../queues/contract.js';
import { compensate } from './compensate.js';
import type { SagaContext } from './context.js';
import { purchaseFlow } from './flows.js';
import { notify } from './notify.js';
import { isFinalAttempt, runStage } from './runner.js';
import { redo } from './repair.js';
import { REPAIRABLE, ROOT_STAGE, START_STAGE } from './saga.js';
import { atRoot, atSettle, PIVOT, unfinishedBefore } from './transitions.js';

/**
 * Ends the purchase (once; true if this call ended it) and settles its stock reservation,
 * which nothing can move any more. Both go out together, in order, on one connection: one
 * round trip. A crash between the two writes would leave one reservation behind, which the
 * audit still counts as committed.
 */
async function finishPurchase(
  ctx: SagaContext,
  ...args: Parameters<SagaContext['stores']['purchases']['finish']>
): Promise<boolean> {
  const [ended] = await Promise.all([ctx.stores.purchases.finish(...args), ctx.stores.inventory.settle(args[0])]);
  return ended;
}

/**
 * The orchestrator's saga jobs: `start` (the first stage, which then adds the rest of the
 * saga as a flow), the root (which finishes the purchase or compensates it) and `settle`
 * (which ends a compensated purchase once its money and stock are back).
 */
export function sagaRoots(ctx: SagaContext) {
  const { purchases } = ctx.stores;

  /** The hand-off from the gateway: the first stage, then the rest as a flow (adding twice adds once). */
  const start = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    let failure: unknown;
    try {
      if ((await runStage(ctx, START_STAGE.steps, job)).proceeds) {
        await ctx.flows.add(purchaseFlow(id, ctx.stepPolicy, ctx.rootAttempts));
        return 'started';
      }
    } catch (err) {
      // Not the last attempt: BullMQ retries the stage. The last one recorded the failure.
      if (!isFinalAttempt(job, err)) throw err;
      failure = err;
    }
    const record = await purchases.get(id);
    if (record?.phase === 'compensating') await compensate(ctx, record);
    // Rethrown so the operator sees the failed job; the purchase is already compensating.
    if (failure) throw failure;
    return record?.phase ?? 'missing';
  };

  const complete = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    // The order is read with the record, side by side: the root checks it even when every step says done.
    const [record, order] = await Promise.all([purchases.get(id), ctx.stores.orders.get(orderIdFor(id))]);
    if (!record) return 'done';
    const decision = atRoot(record, order?.id ?? null);
    switch (decision.do) {
      case 'nothing':
        return 'done';
      case 'compensate':
        await compensate(ctx, record, decision.blame);
        return 'compensating';
      case 'cancel': {
        const stuck = unfinishedBefore(record, ROOT_STAGE.steps[0].name) ?? ROOT_STAGE.steps[0].name;
        await purchases.cancelAt(id, stuck);
        await compensate(ctx, (await purchases.get(id)) ?? record);
        return 'canceling';
      }
      case 'finish': {
        const current = decision.adoptOrder
          ? { ...record, orderId: decision.adoptOrder, steps: { ...record.steps, [PIVOT]: 'completed' as const } }
          : record;
        if (decision.adoptOrder) await purchases.completeStep(id, PIVOT, { orderId: decision.adoptOrder });
        // The OMS lost an order the record says was placed (a write lost in a failover): the pivot's repair.
        if (decision.replaceOrder)
          await redo(
            ctx,
            REPAIRABLE.find((s) => s.name === PIVOT)!,
            current,
            job,
          );
        // The root's own steps run here; the last is recorded with the finish, in one write.
        const [last, ...before] = [...ROOT_STAGE.steps].reverse();
        if (before.length) await runStage(ctx, before.reverse(), job, current);
        await last!.invoke(ctx, current, job);
        if (await finishPurchase(ctx, id, decision.status, {}, last!.name))
          ctx.metrics.purchases.inc({ status: decision.status, code: '' });
        ctx.log.info({ purchaseId: id, requestId: record.requestId, status: decision.status }, 'purchase finished');
        return 'completed';
      }
    }
  };

  const settle = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record) return 'done';
    const decision = atSettle(record);
    if (decision.do === 'nothing') return 'done';
    if (decision.do === 'cancel') {
      const { review } = decision;
      await notify(ctx, record.customerId, id, cancelDraft(record));
      if (await finishPurchase(ctx, id, 'canceled', review ? { review } : {})) {
        ctx.metrics.purchases.inc({ status: 'canceled', code: '' });
        if (review) ctx.metrics.review.inc();
      }
      ctx.log.info({ purchaseId: id, requestId: record.requestId, review }, 'purchase canceled and compensated');
      return 'canceled';
    }
    const { error, review } = decision;
    if (review)
      ctx.log.error(
        { purchaseId: id, requestId: record.requestId, review },
        'purchase failed with compensation incomplete: needs review',
      );
    await notify(ctx, record.customerId, id, failureDraft(record, error));
    if (await finishPurchase(ctx, id, 'failed', review ? { review } : {})) {
      ctx.metrics.purchases.inc({ status: 'failed', code: error.code });
      if (review) ctx.metrics.review.inc();
    }
    ctx.log.info({ purchaseId: id, requestId: record.requestId, code: error.code }, 'purchase failed and compensated');
    return 'failed';
  };

  return { start, complete, settle };
}
