import type { Job } from 'bullmq';
import {
  CANCEL_ORDER_JOB,
  SETTLE_JOB,
  SETTLE_ORDER_JOB,
  type QueueName,
  type SagaJobData,
} from '../queues/contract.js';
import { orderCancelRoots } from './order-cancel.js';
import type { SagaContext } from './context.js';
import { sagaRoots } from './root.js';
import { runStage, undoHandler } from './runner.js';
import { redoHandler } from './repair.js';
import { deriveSaga, SAGA, type Stage } from './saga.js';

export type SagaHandler = (job: Job<SagaJobData>) => Promise<string>;

/**
 * Every saga job's handler, by queue and job name, derived from the saga list: each
 * stage's job, each step's undo and queued redo on its stage's queue, and `settle`. Throws at start-up
 * if two jobs of one queue share a name, rather than running the wrong one later.
 */
export function sagaHandlers(
  ctx: SagaContext,
  saga: readonly Stage[] = SAGA,
): Record<QueueName, Record<string, SagaHandler>> {
  const roots = sagaRoots(ctx);
  const { stageOf, undoable, repairable } = deriveSaga(saga);
  const [first, last] = [saga[0], saga[saga.length - 1]!];
  const table = {} as Record<QueueName, Record<string, SagaHandler>>;
  const put = (queue: QueueName, name: string, handler: SagaHandler) => {
    const jobs = (table[queue] ??= {});
    if (jobs[name]) throw new Error(`two saga jobs named ${queue}/${name}`);
    jobs[name] = handler;
  };
  for (const stage of saga) {
    const run: SagaHandler =
      stage === first
        ? roots.start
        : stage === last
          ? roots.complete
          : async (job) => (await runStage(ctx, stage.steps, job)).outcomes.join(',');
    put(stage.queue, stage.job, run);
  }
  for (const step of undoable) put(stageOf(step).queue, step.compensate.job, undoHandler(ctx, step));
  put(last.queue, SETTLE_JOB, roots.settle);
  // Redos that call an outside system run as jobs of their own on their stage's queue (an operator's retry adds them).
  for (const step of repairable) if (step.repair.job) put(stageOf(step).queue, step.repair.job, redoHandler(ctx, step));
  const orderCancel = orderCancelRoots(ctx);
  put(first.queue, CANCEL_ORDER_JOB, orderCancel.start);
  put(last.queue, SETTLE_ORDER_JOB, orderCancel.settle);
  return table;
}
