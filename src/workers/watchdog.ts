import type { Queue } from 'bullmq';
import { orderCancelJobId, orderIdFor, orderSettleJobId, settleJobId, stageJobId, undoJobId } from '../ids.js';
import type { QueueName } from '../queues/contract.js';
import { compensate } from '../saga/compensate.js';
import type { SagaContext } from '../saga/context.js';
import { compensationFlows, orderSettleJob, rootJob } from '../saga/flows.js';
import { rerunUndos } from '../saga/rerun-undos.js';
import { ROOT_STAGE, SAGA, stageOf, START_STAGE, UNDOABLE, type StepName } from '../saga/saga.js';
import { afterUndo, atDeadline, compensationPlan, type AtDeadline, type JobStates } from '../saga/transitions.js';
import type { Logger } from '../logger.js';
import type { PurchaseRecord } from '../purchase/record.js';

export type SweepAction =
  | 'none'
  | 'forgotten'
  | 'completion-retried'
  | 'failed-and-compensating'
  | 'compensation-redriven'
  | 'undos-repaired'
  | 'order-cancel-settled';

const ACTION: Record<AtDeadline['do'], SweepAction> = {
  close: 'forgotten',
  wait: 'none',
  'check-order': 'none',
  complete: 'completion-retried',
  compensate: 'failed-and-compensating',
  'redrive-compensation': 'compensation-redriven',
  'repair-undos': 'undos-repaired',
  'settle-order': 'order-cancel-settled',
};

type Queues = Record<QueueName, Queue>;

/** Where each of the purchase's jobs stands: its stages, its undos, its order cancel's. */
async function jobStatesOf(queues: Queues, record: PurchaseRecord): Promise<JobStates> {
  const state = (queue: QueueName, id: string) => queues[queue].getJobState(id);
  const money = UNDOABLE.filter((s) => !s.compensate.outside);
  const outside = UNDOABLE.filter((s) => s.compensate.outside);
  const [saga, undos] = await Promise.all([
    Promise.all([
      ...SAGA.map((s) => state(s.queue, stageJobId(record.id, s.name))),
      ...money.map((s) => state(stageOf(s).queue, undoJobId(record.id, s.name))),
      state(ROOT_STAGE.queue, settleJobId(record.id)),
    ]),
    Promise.all(
      outside.map(async (s) => [s.name, await state(stageOf(s).queue, undoJobId(record.id, s.name))] as const),
    ),
  ]);
  const orderCancel = record.orderCancelRequestedAt
    ? await Promise.all([
        state(START_STAGE.queue, orderCancelJobId(record.id)),
        state(ROOT_STAGE.queue, orderSettleJobId(record.id)),
      ])
    : [];
  return { saga, undos: Object.fromEntries(undos), orderCancel };
}

/** Retries the job when it failed; false when there is none, or it did not fail (the caller adds it). */
async function retryIfFailed(queues: Queues, queue: QueueName, id: string): Promise<boolean> {
  const job = await queues[queue].getJob(id);
  if (job && (await job.getState()) === 'failed') {
    await job.retry('failed');
    return true;
  }
  return false;
}

/** Re-adds a job the saga lost, or retries it where it failed. */
async function redrive(
  queues: Queues,
  job: { name: string; queue: QueueName; data: unknown; opts: { jobId: string } },
) {
  if (!(await retryIfFailed(queues, job.queue, job.opts.jobId)))
    await queues[job.queue].add(job.name, job.data, job.opts);
}

/** What the watchdog does for a purchase that the state machine says is stuck. */
async function unstick(
  ctx: SagaContext,
  queues: Queues,
  record: PurchaseRecord,
  decision: Exclude<AtDeadline, { do: 'close' | 'wait' | 'check-order' }>,
  log: Logger,
) {
  const id = record.id;
  switch (decision.do) {
    case 'complete':
      await redrive(queues, rootJob(id, ctx.compensationPolicy));
      log.warn('watchdog: order placed but purchase not completed; completion re-driven');
      break;
    case 'compensate':
      // The forward flow will never finish: drop what is left of it so it cannot wake up later.
      await queues[ROOT_STAGE.queue].remove(stageJobId(id, ROOT_STAGE.name), { removeChildren: true }).catch(() => 0);
      await compensate(ctx, record, decision.blame);
      log.warn({ step: decision.blame.step }, 'watchdog: stuck purchase failed; compensating');
      break;
    case 'redrive-compensation':
      if (!(await retryIfFailed(queues, ROOT_STAGE.queue, settleJobId(id))))
        await ctx.flows.addBulk(compensationFlows(id, compensationPlan(record), ctx.compensationPolicy));
      log.warn('watchdog: compensation re-driven');
      break;
    case 'settle-order':
      await redrive(queues, orderSettleJob(id, ctx.compensationPolicy));
      log.warn('watchdog: order cancel settled again');
      break;
    case 'repair-undos':
      await repairUndos(ctx, queues, record, decision.redrive, decision.failed);
      log.warn({ redriven: decision.redrive, failed: decision.failed }, 'watchdog: outside undos repaired');
      break;
  }
}

/**
 * Undos to redrive run again as fresh jobs (a lost job, or a money undo whose job stalled out under
 * crashes without recording: its job still holds the id, so it is replaced); outside undos that
 * ended without recording an outcome are reviews.
 */
async function repairUndos(
  ctx: SagaContext,
  queues: Queues,
  record: PurchaseRecord,
  redrive: StepName[],
  failed: StepName[],
) {
  if (redrive.length) await rerunUndos(ctx, queues, record.id, redrive);
  for (const step of failed) {
    const attempts = record.undos[step]?.attempts ?? 0;
    const next = afterUndo(
      record,
      step,
      { ok: false, final: true, error: 'its job ended without recording an outcome' },
      attempts,
      new Date().toISOString(),
    );
    await ctx.stores.purchases.recordUndo(record.id, step, next.undo, next);
    record = { ...record, undos: { ...record.undos, [step]: next.undo } };
    ctx.metrics.review.inc();
  }
}

/**
 * The reconciler: finds purchases still open past their deadline that no job will move
 * any more (a lost flow, a parent whose child vanished, a root out of attempts, an outside
 * undo that stalled out) and applies what the state machine decides for each. A purchase
 * with a job still waiting or running is left alone: it is slow, not stuck.
 * One watchdog per shard: it reads the shard's open index and its queues (`queues`), and its
 * sweep job is scheduled on the shard's own orchestrator queue, so every shard is swept.
 */
export function createWatchdog(ctx: SagaContext, queues: Queues, deadlineMs: number, shard = 0) {
  const { purchases } = ctx.stores;

  const reconcile = async (id: string): Promise<SweepAction> => {
    const record = await purchases.get(id);
    const jobs = record ? await jobStatesOf(queues, record) : { saga: [], undos: {} };
    let decision = atDeadline(record, jobs);
    if (decision.do === 'check-order')
      decision = atDeadline(record, jobs, (await ctx.stores.orders.get(orderIdFor(id)))?.id ?? null);
    if (!record) {
      await purchases.forgetOpen(id);
      return 'forgotten';
    }
    if (decision.do === 'close') {
      await purchases.close(id);
      return 'forgotten';
    }
    if (decision.do !== 'wait' && decision.do !== 'check-order') {
      const log = ctx.log.child({ purchaseId: id, phase: record.phase, states: jobs.saga.join(',') });
      await unstick(ctx, queues, record, decision, log);
    }
    return ACTION[decision.do];
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
        ctx.metrics.oldestWaiting.set({ queue: queue.name, shard: String(shard) }, age);
        if (age * 1000 > deadlineMs)
          ctx.log.error(
            { queue: queue.name, shard, oldestWaitingSeconds: Math.round(age) },
            'watchdog: queue is not being consumed',
          );
      }
    },
    /** One pass over the purchases open longer than the deadline. */
    async sweep(): Promise<Record<SweepAction, number>> {
      const counts: Record<SweepAction, number> = {
        none: 0,
        forgotten: 0,
        'completion-retried': 0,
        'failed-and-compensating': 0,
        'compensation-redriven': 0,
        'undos-repaired': 0,
        'order-cancel-settled': 0,
      };
      for (const id of await purchases.openIds(Date.now() - deadlineMs, 500, [shard])) {
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
