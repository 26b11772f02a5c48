import { UnrecoverableError, type Job } from 'bullmq';
import { StepError } from '../errors.js';
import { stepDef, STEPS, type SagaJobData, type StepName } from '../queues/contract.js';
import type { PurchaseError, PurchaseRecord, PurchaseStore } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';

type Fields = Parameters<PurchaseStore['completeStep']>[2];
export type ForwardRun = (record: PurchaseRecord, job: Job<SagaJobData>) => Promise<Fields | void>;
export type UndoRun = (record: PurchaseRecord, job: Job<SagaJobData>) => Promise<boolean>;
export type Handler = (job: Job<SagaJobData>) => Promise<string>;
/** A step's outcome, and the record as it stands after the step when the saga may go on. */
export interface StepResult {
  outcome: string;
  record?: PurchaseRecord;
}
/** A forward step; `known` is the record as the previous step of the same job left it. */
export type StepHandler = (job: Job<SagaJobData>, known?: PurchaseRecord) => Promise<StepResult>;

export function isFinalAttempt(job: Job, err: unknown): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** The first step before `step` (or of all, without one) that has not completed. */
export function unfinishedBefore(record: PurchaseRecord, step?: StepName): (typeof STEPS)[number] | undefined {
  for (const s of STEPS) {
    if (s.name === step) return undefined;
    if (record.steps[s.name] !== 'completed') return s;
  }
  return undefined;
}

/** The failure of a step whose job died (or stalled for good) without recording an outcome. */
export const didNotComplete = (step: StepName, why = 'did not complete'): PurchaseError => ({ code: stepDef(step).failure, detail: `${step} ${why}`, step });

export function toPurchaseError(step: StepName, err: unknown): PurchaseError {
  if (err instanceof StepError) return { code: err.code, detail: err.detail, step };
  return { code: stepDef(step).failure, detail: `${step} failed: ${(err as Error).message}`, step };
}

/**
 * Wraps a forward step so it is safe to deliver more than once: it runs only
 * while the saga is running, only after the previous step completed, and only
 * if it has not completed already. Its last failed attempt records the failure
 * on the purchase record, which starts compensation at the root.
 */
export function forwardStep(ctx: WorkerContext, step: StepName, run: ForwardRun): StepHandler {
  const { purchases } = ctx.stores;
  return async (job, known) => {
    const id = job.data.purchaseId;
    const record = known ?? (await purchases.get(id));
    if (!record) return { outcome: 'missing' };
    if (record.steps[step] === 'completed') return { outcome: 'already-completed', record };
    if (record.phase !== 'running') {
      await purchases.setStep(id, step, 'skipped', 'compensating');
      return { outcome: 'skipped' };
    }
    const stuck = unfinishedBefore(record, step);
    if (stuck) {
      // The job that ran it ended without recording an outcome: it crashed past its stall limit.
      await purchases.failStep(id, stuck.name, didNotComplete(stuck.name));
      await purchases.setStep(id, step, 'skipped', 'compensating');
      return { outcome: 'skipped' };
    }
    const timer = ctx.metrics.stepDuration.startTimer({ step });
    const fields = { purchaseId: id, requestId: record.requestId, step, attempt: job.attemptsMade + 1 };
    try {
      const exec = () => run(record, job);
      const done = (ctx.tracing ? await ctx.tracing.span(`step ${step}`, { 'purchase.id': id, 'saga.step': step }, exec) : await exec()) ?? {};
      // Not applied: the saga stopped running meanwhile (the watchdog); the next step reads it afresh and skips.
      const applied = await purchases.completeStep(id, step, done);
      timer({ outcome: 'completed' });
      ctx.log.info(fields, 'step completed');
      const after: PurchaseRecord = { ...record, ...done, status: 'processing', steps: { ...record.steps, [step]: 'completed' } };
      return { outcome: 'completed', ...(applied ? { record: after } : {}) };
    } catch (err) {
      const final = isFinalAttempt(job, err);
      timer({ outcome: final ? 'failed' : 'retried' });
      ctx.log[final ? 'warn' : 'info']({ ...fields, err: (err as Error).message }, 'step failed');
      if (final) await purchases.failStep(id, step, toPurchaseError(step, err));
      throw err;
    }
  };
}

/** Outcomes of a forward step after which the saga may go on. */
export const PROCEEDS = new Set(['completed', 'already-completed']);

/**
 * A stage: its steps in order, in one job. A step that throws ends the attempt and
 * BullMQ retries the job; on the retry the steps already done return at once.
 * Resolves with each step's outcome.
 */
export function runSteps(steps: StepHandler[]) {
  return async (job: Job<SagaJobData>): Promise<string[]> => {
    const outcomes: string[] = [];
    // Each step hands the next the record as it left it: one read per job, not one per step.
    let record: PurchaseRecord | undefined;
    for (const step of steps) {
      const result = await step(job, record);
      outcomes.push(result.outcome);
      record = result.record;
    }
    return outcomes;
  };
}

/**
 * Wraps an undo: runs while compensating, at most once to completion. A step
 * that completed becomes `compensated`; a failed step whose undo found nothing
 * to undo stays `failed`. The last failed attempt flags the purchase for review.
 */
export function undoStep(ctx: WorkerContext, step: StepName, run: UndoRun): Handler {
  const { purchases } = ctx.stores;
  return async (job) => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record) return 'missing';
    if (record.steps[step] === 'compensated') return 'already-compensated';
    const timer = ctx.metrics.stepDuration.startTimer({ step: `undo:${step}` });
    const fields = { purchaseId: id, requestId: record.requestId, step, attempt: job.attemptsMade + 1 };
    try {
      const undid = await run(record, job);
      if (record.steps[step] === 'completed' || undid) await purchases.setStep(id, step, 'compensated');
      const outcome = undid ? 'compensated' : 'nothing_to_undo';
      timer({ outcome });
      ctx.metrics.compensations.inc({ step, outcome });
      ctx.log.info({ ...fields, undid }, 'compensation completed');
      return outcome;
    } catch (err) {
      timer({ outcome: 'failed' });
      if (isFinalAttempt(job, err)) {
        ctx.metrics.compensations.inc({ step, outcome: 'failed' });
        ctx.log.error({ ...fields, err: (err as Error).message }, 'compensation failed for good: needs review');
        await purchases.patch(id, { review: `compensation of ${step} failed: ${(err as Error).message}` });
      } else {
        ctx.log.warn({ ...fields, err: (err as Error).message }, 'compensation attempt failed; will retry');
      }
      throw err;
    }
  };
}
