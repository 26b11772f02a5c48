import type { Queue } from 'bullmq';
import { undoJobId } from '../ids.js';
import type { QueueName } from '../queues/contract.js';
import type { SagaContext } from './context.js';
import { undoJobsAlone } from './flows.js';
import { stageOf, UNDOABLE, type StepName } from './saga.js';
import { isMoving } from './transitions.js';

/**
 * Runs the undos of a purchase's `names` steps again as fresh jobs, from their first attempt. A job that ended
 * (failed, or stalled out without recording) keeps its id, and BullMQ ignores an add under an id it
 * holds: it goes first, so the fresh one can take it. One still moving is left to finish. Undos are
 * idempotent, so a rerun racing another moves nothing twice.
 */
export async function rerunUndos(
  ctx: SagaContext,
  queues: Record<QueueName, Queue>,
  purchaseId: string,
  names: readonly StepName[],
): Promise<void> {
  const steps = UNDOABLE.filter((s) => names.includes(s.name));
  for (const step of steps) {
    const old = await queues[stageOf(step).queue].getJob(undoJobId(purchaseId, step.name));
    if (old && !isMoving(await old.getState())) await old.remove();
  }
  await ctx.flows.addBulk(undoJobsAlone(purchaseId, steps, ctx.compensationPolicy));
}
