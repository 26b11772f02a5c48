import type { Queue } from 'bullmq';
import { buildCompensationFlow, plannedUndos } from '../flows/compensation-plan.js';
import { jobId, QUEUES, ROOT_STAGE, SETTLE_JOB, STAGES, STEPS, stepJobOptions, type QueueName } from '../queues/contract.js';
import type { PurchaseRecord } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';
import { orderIdFor } from './orders.js';
import { didNotComplete, unfinishedBefore } from './step-runner.js';

export const SWEEP_JOB = 'sweep';

/** Job states in which BullMQ will still move a purchase forward by itself. */
const MOVING = new Set(['active', 'waiting', 'delayed', 'prioritized']);

export type SweepAction = 'none' | 'forgotten' | 'completion-retried' | 'failed-and-compensating' | 'compensation-redriven';

/** Every job a purchase may have: its forward flow and its compensation flow. */
function jobsOf(record: PurchaseRecord): { queue: QueueName; id: string }[] {
  const forward = STAGES.map((s) => ({ queue: s.queue as QueueName, id: jobId(record.id, s.name) }));
  const undo = STEPS.filter((s) => 'undo' in s).map((s) => ({ queue: QUEUES.compensation as QueueName, id: jobId(record.id, `undo-${s.name}`) }));
  return [...forward, ...undo, { queue: QUEUES.compensation, id: jobId(record.id, SETTLE_JOB) }];
}

/**
 * The reconciler: finds purchases that are not terminal past their deadline and
 * that no job will move any more (a lost flow, a parent whose child vanished, a
 * root out of attempts), and drives each to a terminal state. A purchase with a
 * job still waiting or running is left alone: it is slow, not stuck.
 */
export function createWatchdog(ctx: WorkerContext, queues: Record<QueueName, Queue>, deadlineMs: number) {
  const { purchases } = ctx.stores;

  const retryIfFailed = async (queue: QueueName, id: string) => {
    const job = await queues[queue].getJob(id);
    if (job && (await job.getState()) === 'failed') {
      await job.retry('failed');
      return true;
    }
    return false;
  };

  const reconcile = async (id: string): Promise<SweepAction> => {
    let record = await purchases.get(id);
    if (!record || record.phase === 'done') {
      await purchases.forgetOpen(id);
      return 'forgotten';
    }
    const states = await Promise.all(jobsOf(record).map((j) => queues[j.queue].getJobState(j.id)));
    if (states.some((s) => MOVING.has(s))) return 'none';

    const log = ctx.log.child({ purchaseId: id, phase: record.phase, states: states.join(',') });
    const ordered = record.steps.order_placement === 'completed' || (await ctx.stores.orders.get(orderIdFor(id))) !== undefined;
    if (record.phase === 'running' && ordered) {
      // Past the pivot: never compensate; finish the completion instead.
      const root = ROOT_STAGE;
      if (!(await retryIfFailed(root.queue, jobId(id, root.name)))) {
        await queues[root.queue].add(root.job, { purchaseId: id }, { ...stepJobOptions(ctx.compensationPolicy), jobId: jobId(id, root.name) });
      }
      log.warn('watchdog: order placed but purchase not completed; completion re-driven');
      return 'completion-retried';
    }
    if (record.phase === 'running') {
      const stuck = unfinishedBefore(record)!;
      await purchases.failStep(id, stuck.name, didNotComplete(stuck.name, 'did not complete in time'));
      // The forward flow will never finish: drop what is left of it so it cannot wake up later.
      await queues[ROOT_STAGE.queue].remove(jobId(id, ROOT_STAGE.name), { removeChildren: true }).catch(() => 0);
      record = (await purchases.get(id))!;
      await ctx.flows.add(buildCompensationFlow(record, ctx.compensationPolicy));
      log.warn({ step: stuck.name, undo: plannedUndos(record).map((u) => u.undo) }, 'watchdog: stuck purchase failed; compensating');
      return 'failed-and-compensating';
    }
    if (!(await retryIfFailed(QUEUES.compensation, jobId(id, SETTLE_JOB)))) {
      await ctx.flows.add(buildCompensationFlow(record, ctx.compensationPolicy));
    }
    log.warn('watchdog: compensation re-driven');
    return 'compensation-redriven';
  };

  return {
    reconcile,
    /**
     * Notices queues nobody consumes (BullMQ workers have been known to stop silently
     * after a Redis outage): the age of each queue's oldest waiting job, logged when
     * it passes the purchase deadline.
     */
    async checkConsumers(): Promise<void> {
      for (const queue of Object.values(queues)) {
        const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
        const age = oldest ? (Date.now() - oldest.timestamp) / 1000 : 0;
        ctx.metrics.oldestWaiting.set({ queue: queue.name }, age);
        if (age * 1000 > deadlineMs) ctx.log.error({ queue: queue.name, oldestWaitingSeconds: Math.round(age) }, 'watchdog: queue is not being consumed');
      }
    },
    /** One pass over the purchases open longer than the deadline. */
    async sweep(): Promise<Record<SweepAction, number>> {
      const counts: Record<SweepAction, number> = { none: 0, forgotten: 0, 'completion-retried': 0, 'failed-and-compensating': 0, 'compensation-redriven': 0 };
      for (const id of await purchases.openIds(Date.now() - deadlineMs, 500)) {
        try {
          counts[await reconcile(id)]++;
        } catch (err) {
          ctx.log.error({ purchaseId: id, err: (err as Error).message }, 'watchdog: reconcile failed');
        }
      }
      return counts;
    },
  };
}
