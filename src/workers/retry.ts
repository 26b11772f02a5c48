import type { Job, Queue } from 'bullmq';
import { orderIdFor, reprovisionJobId, undoJobId } from '../ids.js';
import { REPROVISION_JOB, stepJobOptions, type QueueName, type SagaJobData } from '../queues/contract.js';
import type { SagaContext } from '../saga/context.js';
import { placeOrderAgain } from '../saga/root.js';
import { stageOf, UNDOABLE } from '../saga/saga.js';
import { storeAndDeliver } from '../saga/notify.js';
import { lostConfirmations } from '../saga/steps/notification.js';
import { provisioning, unitsLost } from '../saga/steps/provisioning.js';
import { atRetry, delivered } from '../saga/transitions.js';
import type { createWatchdog } from './watchdog.js';

/**
 * An operator's retry, as the state machine decides it (atRetry): undos that failed for good run
 * again from their first attempt (the failed job is replaced by a fresh one with the same id); a
 * purchase not ended, or with an undo still open, is re-driven as the watchdog would, without
 * waiting for its deadline; a completed one that lost its order, Product Store units or
 * confirmations (writes lost in a failover; the audit names them) has them placed, provisioned or
 * sent again; one in review with nothing left undone is resolved. Each undo is idempotent, so a
 * retry repeated or racing another moves nothing twice. The undo that leaves nothing undone
 * resolves the review itself (afterUndo).
 */
export function retryHandler(
  ctx: SagaContext,
  queues: Record<QueueName, Queue>,
  watchdog: ReturnType<typeof createWatchdog>,
) {
  const { purchases } = ctx.stores;
  return async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record) return 'missing';
    const isDelivered = delivered(record);
    const [order, units, confirmations] = isDelivered
      ? await Promise.all([
          ctx.stores.orders.get(orderIdFor(id)),
          unitsLost(ctx, record),
          lostConfirmations(ctx, record),
        ])
      : [undefined, false, []];
    const decision = atRetry(record, { order: isDelivered && !order, units, confirmations: confirmations.length > 0 });
    const log = ctx.log.child({ purchaseId: id, retry: decision.do });
    switch (decision.do) {
      case 'redo-undos': {
        await purchases.reopenUndos(id, decision.steps);
        for (const step of UNDOABLE.filter((s) => decision.steps.includes(s.name as never))) {
          const queue = queues[stageOf(step).queue];
          const jobId = undoJobId(id, step.name);
          const old = await queue.getJob(jobId);
          if (
            old &&
            !['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'].includes(await old.getState())
          )
            await old.remove();
          await queue.add(step.compensate.job, { purchaseId: id } satisfies SagaJobData, {
            ...stepJobOptions(ctx.compensationPolicy),
            jobId,
          });
        }
        log.warn({ steps: decision.steps }, 'operator retry: failed undos run again');
        return `redo:${decision.steps.join(',')}`;
      }
      case 'reconcile': {
        const action = await watchdog.reconcile(id);
        log.warn({ action }, 'operator retry: re-driven');
        return action;
      }
      case 'repair': {
        const done: string[] = [];
        if (decision.order) {
          await placeOrderAgain(ctx, record, job);
          done.push('replace-order');
        }
        if (decision.units) {
          // On the provisioning queue, where partner calls and their concurrency live.
          await queues[stageOf(provisioning).queue].add(REPROVISION_JOB, { purchaseId: id } satisfies SagaJobData, {
            ...stepJobOptions(ctx.stepPolicy),
            jobId: reprovisionJobId(id),
          });
          done.push('reprovision');
        }
        if (decision.confirmations) {
          // Only the lost ones: those still stored were delivered already.
          await storeAndDeliver(ctx, confirmations);
          done.push('reconfirm');
        }
        log.warn({ repaired: done }, 'operator retry: what the purchase lost is delivered again');
        return done.join(',');
      }
      case 'resolve':
        if (await purchases.resolveReview(id, { how: 'retry', by: 'retry', at: new Date().toISOString() }))
          ctx.metrics.resolvedByRetry.inc();
        log.info('operator retry: nothing left undone, review resolved');
        return 'resolved';
      case 'nothing':
        return 'nothing';
    }
  };
}
