import type { Job } from 'bullmq';
import type { PurchaseRecord } from '../purchase/record.js';
import type { SagaJobData } from '../queues/contract.js';
import type { SagaContext } from './context.js';
import type { RepairableStep } from './define-step.js';
import { REPAIRABLE, UNDOABLE, type StepName } from './saga.js';
import { delivered } from './transitions.js';

/** Puts back what a step did for a purchase and lost: its redo, or its (idempotent) invoke. */
export async function redo(
  ctx: SagaContext,
  step: RepairableStep,
  record: PurchaseRecord,
  job: Job<SagaJobData>,
): Promise<void> {
  await (step.repair.redo ?? step.invoke)(ctx, record, job);
}

/** The repairable steps whose work a delivered purchase lost, asked side by side; none for any other purchase. */
export async function lostSteps(ctx: SagaContext, record: PurchaseRecord): Promise<StepName[]> {
  if (!delivered(record)) return [];
  const lost = await Promise.all(REPAIRABLE.map((s) => s.repair.lost(ctx, record)));
  return REPAIRABLE.filter((_, i) => lost[i]).map((s) => s.name);
}

/** The undoable steps whose undo the outside world no longer shows, for a purchase that ended undone; none for any other. */
export async function leftoverSteps(ctx: SagaContext, record: PurchaseRecord): Promise<StepName[]> {
  if (record.phase !== 'done' || delivered(record)) return [];
  const checked = UNDOABLE.filter((s) => s.compensate.leftover);
  const left = await Promise.all(checked.map((s) => s.compensate.leftover!(ctx, record)));
  return checked.filter((_, i) => left[i]).map((s) => s.name);
}

/** A queued redo's handler (a repair with a `job`): the purchase is read again, and only a delivered one is repaired. */
export const redoHandler =
  (ctx: SagaContext, step: RepairableStep) =>
  async (job: Job<SagaJobData>): Promise<string> => {
    const record = await ctx.stores.purchases.get(job.data.purchaseId);
    if (!record || !delivered(record)) return 'nothing';
    await redo(ctx, step, record, job);
    return 'redone';
  };
