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
  /**
   * Whether the outside world still holds what this undo released, for a purchase that ended
   * undone (its undo raced the step, or a failover lost the undo's effect): an operator's retry
   * then runs the undo again.
   */
  leftover?(ctx: SagaContext, record: PurchaseRecord): Promise<boolean>;
}

/**
 * How a delivered purchase gets back what this step did when it was lost (a write lost in a
 * failover). `invoke` is idempotent, so putting it back is running it again (or `redo`).
 */
export interface Repair {
  /** When set, the redo runs as a job of this name on the step's stage queue (it calls an outside system). */
  job?: string;
  /** Whether what the step did for this delivered purchase is gone. */
  lost(ctx: SagaContext, record: PurchaseRecord): Promise<boolean>;
  /** Puts it back; `invoke` when absent. Idempotent: what is still there is left alone. */
  redo?(ctx: SagaContext, record: PurchaseRecord, job: Job<SagaJobData>): Promise<void>;
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
  repair?: Repair;
}

/** A step with an undo: the only kind compensation can plan. */
export type UndoableStep = Step & { compensate: Compensation };

/** A step that can tell its work was lost: the only kind an operator's retry repairs. */
export type RepairableStep = Step & { repair: Repair };

/** Declares a step, keeping its name as a literal type (the saga's StepName union is built from them). */
export function defineStep<const Name extends string>(step: Step<Name>): Step<Name> {
  return step;
}
