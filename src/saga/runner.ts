import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { StepError } from '../errors.js';
import { messages } from '../purchase/messages.js';
import type { PurchaseError, PurchaseRecord } from '../purchase/record.js';
import type { SagaJobData } from '../queues/contract.js';
import type { SagaContext } from './context.js';
import type { Step, UndoableStep } from './define-step.js';
import type { StepName } from './saga.js';
import { TryAgainAt, WaitFor } from './wait.js';
import { afterPivotClaim, afterUndo, beforeStep, PIVOT, type BeforeStep, type UndoOutcome } from './transitions.js';

export function isFinalAttempt(job: Job, err: unknown): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

export function toPurchaseError(step: Step, err: unknown): PurchaseError {
  if (err instanceof StepError) return { code: err.code, detail: err.detail, step: step.name };
  return { code: step.failure, detail: messages.stepFailed(step.name, (err as Error).message), step: step.name };
}

/** How a stage's steps went: `record` is the record as the last step left it, while the saga may go on. */
export interface StageResult {
  proceeds: boolean;
  outcomes: string[];
  record?: PurchaseRecord;
}

/**
 * Runs one step, safe to deliver more than once: asks the state machine whether to run,
 * skip or blame, and applies the answer. The last failed attempt records the failure on
 * the purchase, which starts compensation at the root.
 */
async function runStep(
  ctx: SagaContext,
  step: Step,
  record: PurchaseRecord,
  job: Job<SagaJobData>,
): Promise<{ outcome: string; record?: PurchaseRecord }> {
  const { purchases } = ctx.stores;
  const id = record.id;
  let decision: BeforeStep = beforeStep(record, step.name as StepName);
  // The cancel/pivot race is decided by one script; its answer goes back to the state machine.
  if (decision.do === 'claim-pivot') decision = afterPivotClaim(await purchases.claimPivot(id, PIVOT));
  switch (decision.do) {
    case 'already':
      return { outcome: 'already-completed', record };
    case 'cancel':
      await purchases.cancelAt(id, step.name, record.steps[step.name] === 'waiting');
      ctx.log.info(
        { purchaseId: id, requestId: record.requestId, step: step.name },
        'purchase canceled by the customer: compensating',
      );
      return { outcome: 'canceled' };
    case 'claim-pivot':
    case 'skip':
      await purchases.setStep(id, step.name, 'skipped', 'compensating');
      return { outcome: 'skipped' };
    case 'blame':
      await purchases.failStep(id, decision.step, decision.error);
      await purchases.setStep(id, step.name, 'skipped', 'compensating');
      return { outcome: 'skipped' };
    case 'run':
      break;
  }
  const timer = ctx.metrics.stepDuration.startTimer({ step: step.name });
  const fields = { purchaseId: id, requestId: record.requestId, step: step.name, attempt: job.attemptsMade + 1 };
  try {
    const exec = async () => {
      if (step.fault) await ctx.injectFault(step.fault);
      return step.invoke(ctx, record, job);
    };
    const returned =
      (ctx.tracing
        ? await ctx.tracing.span(`step ${step.name}`, { 'purchase.id': id, 'saga.step': step.name }, exec)
        : await exec()) ?? {};
    // A step that waited hands its wait back with its completion.
    const done = record.waiting ? { ...returned, waiting: null } : returned;
    // Not applied: the saga stopped running meanwhile (the watchdog); the next step reads it afresh and skips.
    const { applied, cancelRequested } = await purchases.completeStepSeeingCancel(id, step.name, done);
    timer({ outcome: 'completed' });
    ctx.log.info(fields, 'step completed');
    const after: PurchaseRecord = {
      ...record,
      ...done,
      status: 'processing',
      steps: { ...record.steps, [step.name]: 'completed' },
      // A cancel requested while the step ran: the next step boundary sees it without a read.
      ...(cancelRequested ? { cancelRequestedAt: record.cancelRequestedAt ?? new Date().toISOString() } : {}),
    };
    return { outcome: 'completed', ...(applied ? { record: after } : {}) };
  } catch (err) {
    if (err instanceof WaitFor) {
      await park(ctx, step, record, job, err);
      timer({ outcome: 'waiting' });
      throw new DelayedError();
    }
    const final = isFinalAttempt(job, err);
    timer({ outcome: final ? 'failed' : 'retried' });
    ctx.log[final ? 'warn' : 'info']({ ...fields, err: (err as Error).message }, 'step failed');
    if (final) await purchases.failStep(id, step.name, toPurchaseError(step, err));
    throw err;
  }
}

/**
 * A step waits (WaitFor): recorded `waiting` until its deadline, then its job is parked in the
 * delayed set until the deadline or the next check, whichever comes first, holding no worker.
 */
async function park(ctx: SagaContext, step: Step, record: PurchaseRecord, job: Job<SagaJobData>, wait: WaitFor) {
  const until = new Date(wait.until).toISOString();
  await ctx.stores.purchases.waitAt(record.id, step.name, until, wait.fields);
  await job.moveToDelayed(Math.min(wait.until, Date.now() + ctx.waitCheckMs), job.token);
  if (!record.waiting)
    ctx.log.info({ purchaseId: record.id, requestId: record.requestId, step: step.name, until }, 'step waiting');
}

/**
 * A stage: its steps in order, in one job. A step that throws ends the attempt and BullMQ
 * retries the job; on the retry the steps already done return at once. Each step hands the
 * next the record as it left it: one read per job, not one per step.
 */
export async function runStage(
  ctx: SagaContext,
  steps: readonly Step[],
  job: Job<SagaJobData>,
  known?: PurchaseRecord,
): Promise<StageResult> {
  const outcomes: string[] = [];
  let record = known ?? (await ctx.stores.purchases.get(job.data.purchaseId));
  if (!record) return { proceeds: false, outcomes: ['missing'] };
  for (const step of steps) {
    if (!record) break;
    const result = await runStep(ctx, step, record, job);
    outcomes.push(result.outcome);
    record = result.record;
  }
  return {
    proceeds: record !== undefined && outcomes.length === steps.length,
    outcomes,
    ...(record ? { record } : {}),
  };
}

/**
 * An undo job: runs while compensating (and after, for outside undos), at most once to
 * completion, and records each attempt's outcome as the state machine says: a retry shows
 * in the purchase's steps, the last failed attempt flags it for review.
 */
export function undoHandler(ctx: SagaContext, step: UndoableStep) {
  const { purchases } = ctx.stores;
  return async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    const record = await purchases.get(id);
    if (!record) return 'missing';
    // An undo reopened by an operator's retry (pending again) runs even though its step shows compensated.
    const undo = record.undos[step.name];
    if (undo?.status === 'done' || (!undo && record.steps[step.name] === 'compensated')) return 'already-compensated';
    const timer = ctx.metrics.stepDuration.startTimer({ step: `undo:${step.name}` });
    const fields = { purchaseId: id, requestId: record.requestId, step: step.name, attempt: job.attemptsMade + 1 };
    let outcome: UndoOutcome;
    let failure: unknown;
    try {
      outcome = { ok: true, undid: await step.compensate.run(ctx, record) };
    } catch (err) {
      if (err instanceof TryAgainAt) {
        timer({ outcome: 'deferred' });
        ctx.log.info({ ...fields, err: err.message, at: new Date(err.at).toISOString() }, 'compensation deferred');
        await job.moveToDelayed(err.at, job.token);
        throw new DelayedError();
      }
      failure = err;
      outcome = { ok: false, final: isFinalAttempt(job, err), error: (err as Error).message };
    }
    const next = afterUndo(record, step.name as StepName, outcome, job.attemptsMade + 1, new Date().toISOString());
    await purchases.recordUndo(id, step.name, next.undo, next);
    const label = outcome.ok
      ? outcome.undid
        ? 'compensated'
        : 'nothing_to_undo'
      : outcome.final
        ? 'failed'
        : 'retried';
    timer({ outcome: label });
    if (label !== 'retried') ctx.metrics.compensations.inc({ step: step.name, outcome: label });
    if (next.resolution) {
      ctx.metrics.resolvedByRetry.inc();
      ctx.log.info({ ...fields }, 'review resolved: nothing is left undone');
    }
    if (outcome.ok) {
      ctx.log.info({ ...fields, undid: outcome.undid }, 'compensation completed');
      return label;
    }
    if (outcome.final) {
      ctx.log.error({ ...fields, err: outcome.error }, 'compensation failed for good: needs review');
      // An outside undo outlives its purchase: settle has counted the review already unless it is still to come.
      if (record.phase === 'done') ctx.metrics.review.inc();
    } else {
      ctx.log.warn({ ...fields, err: outcome.error }, 'compensation attempt failed; will retry');
    }
    throw failure;
  };
}
