import type { Job } from 'bullmq';
import type { ErrorCode } from '../errors.js';
import type { PurchaseRecord, RecordFields } from '../purchase/record.js';
import type { SagaJobData } from '../queues/contract.js';
import type { SagaContext } from './context.js';

/** How a step is undone. Its job runs on the step's own queue, named `job`. */
export interface Compensation {
  job: string;
  /**
   * The undo calls an outside system (a partner that may be down or hang). It runs
   * beside the money and stock undos instead of before them, and the purchase is
   * answered without waiting for it.
   */
  outside?: boolean;
  /** Undoes what the step did; true if there was something to undo. Runs again on every retry: idempotent. */
  run(ctx: SagaContext, record: PurchaseRecord): Promise<boolean>;
}

/** A saga step: its name, failure code, forward action and undo, declared together. */
export interface Step<Name extends string = string> {
  name: Name;
  /** The code a purchase fails with when this step fails for a technical reason. */
  failure: ErrorCode;
  /** The operator fault point (POST /admin/faults) that fails this step's next calls. */
  fault?: string;
  /** Once this step completed, the purchase completes: nothing compensates after it. */
  pivot?: true;
  /** Does the step's work; the fields it returns are recorded with its completion. Idempotent. */
  invoke(ctx: SagaContext, record: PurchaseRecord, job: Job<SagaJobData>): Promise<RecordFields | void>;
  compensate?: Compensation;
}

/** A step with an undo: the only kind compensation can plan. */
export type UndoableStep = Step & { compensate: Compensation };

/** Declares a step, keeping its name as a literal type (the saga's StepName union is built from them). */
export function defineStep<const Name extends string>(step: Step<Name>): Step<Name> {
  return step;
}
