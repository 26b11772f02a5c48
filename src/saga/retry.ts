import type { Job, Queue } from 'bullmq';
import type { QueueName, SagaJobData } from '../queues/contract.js';
import type { SagaContext } from './context.js';
import { redoJobs } from './flows.js';
import { rerunUndos } from './rerun-undos.js';
import { leftoverSteps, lostSteps, redo } from './repair.js';
import { REPAIRABLE } from './saga.js';
import { atRetry } from './transitions.js';

/**
 * An operator's retry, as the state machine decides it (atRetry): undos that failed for good, or whose
 * effect the outside world no longer shows, run again from their first attempt (the ended job is
 * replaced by a fresh one with the same id); a purchase not ended, or with an undo still open, is
 * re-driven as the watchdog would (`reconcile`), without waiting for its deadline; a delivered one that
 * lost what a repairable step did (writes lost in a failover; the audit names them) has those steps
 * redone; one in review with nothing left undone is resolved. Each undo and redo is idempotent, so a
 * retry repeated or racing another moves nothing twice. The undo that leaves nothing undone resolves
 * the review itself (afterUndo).
 */
export function retryHandler(
  ctx: SagaContext,
  queues: Record<QueueName, Queue>,
  reconcile: (purchaseId: string) => Promise<string>,
) {
  const { purchases } = ctx.stores;
  return async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record) return 'missing';
    const [lost, leftover] = await Promise.all([lostSteps(ctx, record), leftoverSteps(ctx, record)]);
    const decision = atRetry(record, lost, leftover);
    const log = ctx.log.child({ purchaseId: id, retry: decision.do });
    switch (decision.do) {
      case 'redo-undos': {
        await purchases.reopenUndos(id, decision.steps);
        await rerunUndos(ctx, queues, id, decision.steps);
        log.warn({ steps: decision.steps }, 'operator retry: failed undos run again');
        return `redo:${decision.steps.join(',')}`;
      }
      case 'reconcile': {
        const action = await reconcile(id);
        log.warn({ action }, 'operator retry: re-driven');
        return action;
      }
      case 'repair': {
        const steps = REPAIRABLE.filter((s) => decision.steps.includes(s.name));
        for (const step of steps.filter((s) => !s.repair.job)) await redo(ctx, step, record, job);
        await ctx.flows.addBulk(redoJobs(id, steps, ctx.stepPolicy));
        log.warn({ repaired: decision.steps }, 'operator retry: what the purchase lost is delivered again');
        return `repair:${decision.steps.join(',')}`;
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
