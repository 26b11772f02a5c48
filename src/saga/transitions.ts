import { messages } from '../purchase/messages.js';
import {
  inReview,
  orderCancelOpen,
  undoOpen,
  type PurchaseError,
  type PurchaseRecord,
  type PurchaseStatus,
  type ReviewResolution,
  type UndoState,
} from '../purchase/record.js';
import { ROOT_STAGE, STEPS, UNDOABLE, type StepName, type Undoable } from './saga.js';

/**
 * The purchase's state machine, and the only place that decides it. Every function is
 * pure: it reads a record (and what the caller looked up for it) and says what to do;
 * the callers only apply the answer.
 *
 * Phases: running → done (completed or partially_fulfilled), or running → compensating → done
 * (failed or canceled). The pivot (order placement) divides running: before it claims the
 * order, a failure or a cancel compensates; after, the purchase completes whatever happens.
 *
 *   running ──every step completed──▶ done (completed | partially_fulfilled)
 *      │ a step failed, a deadline passed, or cancelRequestedAt before pivotClaimedAt
 *      ▼
 *   compensating ──money and stock undos ended (settle)──▶ done (failed | canceled)
 *
 * Flags on the record that steer it: `cancelRequestedAt` (the customer asked; wins only before
 * `pivotClaimedAt`), `pivotClaimedAt` (the pivot's claim against a cancel, taken atomically),
 * `orderCancelRequestedAt`/`orderCanceledAt` (an order cancel after completion, the same undos),
 * `review` / `reviewResolution` (an undo failed for good; an operator's retry resolves it).
 *
 * Who asks what:
 *   step runner     beforeStep, afterPivotClaim, didNotComplete
 *   undo jobs       afterUndo
 *   root job        atRoot; compensate → compensationPlan; settle → atSettle
 *   gateway         atCancelRequest, atClaimedPivot, afterPivotWait (cancel), atOrderCancel (order cancel)
 *   settle-order    atOrderSettle
 *   watchdog        atDeadline (and openUndos, isMoving)
 *   operator retry  atRetry
 */

/** The first step before `step` (or of all, without one) that has not completed. */
export function unfinishedBefore(record: PurchaseRecord, step?: StepName): StepName | undefined {
  for (const s of STEPS) {
    if (s.name === step) return undefined;
    if (record.steps[s.name] !== 'completed') return s.name;
  }
  return undefined;
}

/** The step after which a purchase completes whatever happens. */
export const PIVOT = STEPS.find((s) => 'pivot' in s && s.pivot)!.name;

/** Past the pivot (the order is placed) a purchase completes; it is never compensated. */
export const passedPivot = (record: PurchaseRecord, orderExists: boolean) =>
  record.steps[PIVOT] === 'completed' || orderExists;

const finishedStatus = (record: PurchaseRecord): PurchaseStatus =>
  record.allocation?.includes('out_of_stock') ? 'partially_fulfilled' : 'completed';

export type BeforeStep =
  /** Do the step. */
  | { do: 'run' }
  /** It completed on an earlier delivery: go on. */
  | { do: 'already' }
  /** The saga stopped running: record the step skipped and stop. */
  | { do: 'skip' }
  /** A predecessor never recorded an outcome (its job crashed past its stall limit): fail it, skip this one. */
  | { do: 'blame'; step: StepName; error: PurchaseError }
  /** The customer asked to cancel: stop here (the step skipped) and compensate; the purchase ends `canceled`. */
  | { do: 'cancel' }
  /** The pivot: claim it first, against a cancel request, in one atomic script; ask afterPivotClaim. */
  | { do: 'claim-pivot' };

export function beforeStep(record: PurchaseRecord, step: StepName): BeforeStep {
  if (record.steps[step] === 'completed') return { do: 'already' };
  if (record.phase !== 'running') return { do: 'skip' };
  const stuck = unfinishedBefore(record, step);
  if (stuck) return { do: 'blame', step: stuck, error: didNotComplete(stuck) };
  if (record.cancelRequestedAt) return { do: 'cancel' };
  if (step === PIVOT && !record.pivotClaimedAt) return { do: 'claim-pivot' };
  return { do: 'run' };
}

/** What the pivot claim's answer means: the race with a cancel was decided by the script. */
export function afterPivotClaim(claim: 'claimed' | 'canceled' | 'stopped' | 'missing'): BeforeStep {
  if (claim === 'claimed') return { do: 'run' };
  if (claim === 'canceled') return { do: 'cancel' };
  return { do: 'skip' };
}

/**
 * A refused cancel, by what the customer is told: `placed` (the order exists: cancel it instead), `placing` (the pivot
 * is claimed and its outcome still open), `finished` (the purchase ended), `failing` (it is being rolled back).
 */
export type CancelRefusal = { do: 'refuse'; why: 'placed' | 'placing' | 'finished' | 'failing' };

/** Why a cancel request is refused, or that it goes on (the script's answer, as the gateway reports it). */
export type CancelAnswer =
  | { do: 'wait' }
  | { do: 'show' }
  /** The pivot was claimed first. The claim is not the order: read the record and ask atClaimedPivot. */
  | { do: 'pivot-claimed' }
  | CancelRefusal
  | { do: 'not-found' };

export function atCancelRequest(
  outcome: 'requested' | 'already-requested' | 'canceled' | 'placed' | 'finished' | 'failing' | 'missing',
): CancelAnswer {
  switch (outcome) {
    case 'requested':
    case 'already-requested':
      return { do: 'wait' };
    case 'canceled':
      return { do: 'show' };
    case 'missing':
      return { do: 'not-found' };
    // The script answers `placed` once the pivot is claimed, placed or not, and even after the purchase failed.
    case 'placed':
      return { do: 'pivot-claimed' };
    default:
      return { do: 'refuse', why: outcome };
  }
}

/**
 * A cancel that lost the race to the pivot claim, at its first look at the record. Placing the order can still fail
 * for good, and the purchase then fails and is refunded, so telling the customer "placed" before it is would be a lie:
 * while the outcome is open, `await-pivot` (wait for the purchase to end, bounded, then ask afterPivotWait).
 */
export function atClaimedPivot(record: PurchaseRecord): CancelRefusal | { do: 'await-pivot' } {
  const answer = afterPivotWait(record);
  return answer.why === 'placing' || answer.why === 'failing' ? { do: 'await-pivot' } : answer;
}

/** The answer to a cancel that lost the race to the pivot claim, true whatever happens after it. */
export function afterPivotWait(record: PurchaseRecord): CancelRefusal {
  if (passedPivot(record, Boolean(record.orderId))) return { do: 'refuse', why: 'placed' };
  if (record.phase === 'done') return { do: 'refuse', why: 'finished' };
  if (record.phase === 'compensating') return { do: 'refuse', why: 'failing' };
  return { do: 'refuse', why: 'placing' };
}

export const didNotComplete = (step: StepName, inTime = false): PurchaseError => ({
  code: STEPS.find((s) => s.name === step)!.failure,
  detail: messages.didNotComplete(step, inTime),
  step,
});

export type AtRoot =
  | { do: 'nothing' }
  /**
   * Complete the purchase: after recording the order a crash kept from its step, when `adoptOrder`;
   * after placing the recorded order again, when `replaceOrder` (the OMS lost it).
   */
  | { do: 'finish'; status: PurchaseStatus; adoptOrder?: string; replaceOrder?: true }
  | { do: 'compensate'; blame?: { step: StepName; error: PurchaseError } }
  /** Still running with a cancel requested (the step that would have seen it never ran): stop and compensate. */
  | { do: 'cancel' };

/**
 * At the flow's root, once every stage job before it ended. `order` is the OMS's order id, or null
 * when none exists: the root always reads it beside the record.
 */
export function atRoot(record: PurchaseRecord, order: string | null): AtRoot {
  if (record.phase === 'done') return { do: 'nothing' };
  if (record.phase === 'compensating') return { do: 'compensate' };
  // A cancel wins only before the pivot is claimed, and no order exists without the claim.
  if (record.cancelRequestedAt) return { do: 'cancel' };
  // The order is asked for even when every step says done: a write can be lost (a Redis Cluster master
  // restarted before it learned of its replacement took writes that vanished once it was demoted) and
  // the record then says placed while the OMS has nothing. The customer paid: the order is placed again.
  const stuck = unfinishedBefore(record, ROOT_STAGE.steps[0].name);
  if (!stuck)
    return { do: 'finish', status: finishedStatus(record), ...(order ? {} : { replaceOrder: true as const }) };
  if (order && passedPivot(record, true)) return { do: 'finish', status: finishedStatus(record), adoptOrder: order };
  return { do: 'compensate', blame: { step: stuck, error: didNotComplete(stuck) } };
}

export interface CompensationPlan {
  /** Steps that never ran and now never will. */
  skip: StepName[];
  /** Undos of money and stock: they end the purchase (`settle` waits for them), side by side. */
  money: Undoable[];
  /** Undos that call outside systems: they run beside the money undos and never hold them up. */
  outside: Undoable[];
}

const undoEnded = (u: UndoState | undefined) => u?.status === 'done' || u?.status === 'failed';

/**
 * What compensation has left to do: every step that completed, the failed step itself (it may
 * have done part of its work) and a step stopped while waiting (a payment held for its customer's
 * action), unless its undo already ended. Undos are idempotent,
 * so undoing a step that did nothing is harmless.
 */
export function compensationPlan(record: PurchaseRecord): CompensationPlan {
  const undos = UNDOABLE.filter(
    (s) => ['completed', 'failed', 'waiting'].includes(record.steps[s.name]!) && !undoEnded(record.undos[s.name]),
  ).reverse();
  return {
    skip: STEPS.filter((s) => record.steps[s.name] === 'pending').map((s) => s.name),
    money: undos.filter((s) => !s.compensate.outside),
    outside: undos.filter((s) => s.compensate.outside),
  };
}

/** Outside undos still running after the purchase ended: it stays open (watched) until they end. */
export const openUndos = (record: PurchaseRecord): StepName[] =>
  UNDOABLE.filter((s) => undoOpen(record.undos[s.name])).map((s) => s.name);

export type AtSettle =
  | { do: 'nothing' }
  /** End the purchase `failed`; `review` when money or stock could not be returned. */
  | { do: 'fail'; error: PurchaseError; review?: string }
  /** End it `canceled`: the customer asked (even if a step failed meanwhile, it is rolled back all the same). */
  | { do: 'cancel'; review?: string };

/** Why a purchase whose money or stock could not be returned is in review; undefined when it was. */
function notCompensated(record: PurchaseRecord): string | undefined {
  const notUndone = UNDOABLE.filter((s) => !s.compensate.outside && record.steps[s.name] === 'completed');
  return (
    record.review ?? (notUndone.length ? `not compensated: ${notUndone.map((s) => s.name).join(', ')}` : undefined)
  );
}

/** Once the money and stock undos ended (each done or failed for good). */
export function atSettle(record: PurchaseRecord): AtSettle {
  if (record.phase === 'done') return { do: 'nothing' };
  const review = notCompensated(record);
  if (record.cancelRequestedAt) return { do: 'cancel', ...(review ? { review } : {}) };
  return {
    do: 'fail',
    error: record.error ?? { code: 'purchase_failed', detail: 'purchase failed' },
    ...(review ? { review } : {}),
  };
}

export interface AfterUndo {
  undo: UndoState;
  /** The step's status to record: `compensated` once a completed step (or a partly done one) is undone. */
  stepStatus?: 'compensated';
  review?: string;
  /** The purchase was in review and this undo was the last thing left undone: the review is resolved. */
  resolution?: ReviewResolution;
}

export type UndoOutcome = { ok: true; undid: boolean } | { ok: false; final: boolean; error: string };

/** What an undo attempt leaves on the record. */
export function afterUndo(
  record: PurchaseRecord,
  step: StepName,
  outcome: UndoOutcome,
  attempts: number,
  at: string,
): AfterUndo {
  if (outcome.ok) {
    const undone = record.steps[step] === 'completed' || outcome.undid;
    const othersDone = Object.entries(record.undos).every(([s, u]) => s === step || u.status === 'done');
    const resolves = inReview(record) && othersDone;
    return {
      undo: { status: 'done', attempts, at },
      ...(undone ? { stepStatus: 'compensated' as const } : {}),
      ...(resolves ? { resolution: { how: 'retry' as const, by: 'retry', at } } : {}),
    };
  }
  if (!outcome.final) return { undo: { status: 'retrying', attempts, error: outcome.error, at } };
  return {
    undo: { status: 'failed', attempts, error: outcome.error, at },
    review: `compensation of ${step} failed: ${outcome.error}`,
  };
}

/** BullMQ job states in which a job will still move a purchase by itself. */
const MOVING = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);
export const isMoving = (state: string | undefined) => state !== undefined && MOVING.has(state);

export interface JobStates {
  /** The stage jobs and the compensation's settle. */
  saga: readonly string[];
  /** Each outside undo's job, by step. */
  undos: Partial<Record<StepName, string>>;
  /** The order-cancel saga's jobs (cancel-order, settle-order), when one was requested. */
  orderCancel?: readonly string[];
}

export type AtDeadline =
  /** Gone, or ended with nothing left to wait for: drop it from the open index. */
  | { do: 'close' }
  /** A job still moves it: slow, not stuck. */
  | { do: 'wait' }
  | { do: 'check-order' }
  /** Past the pivot but not completed: re-drive the root. */
  | { do: 'complete' }
  /** Running, nothing moves it, no order: fail the step it is stuck at and compensate. */
  | { do: 'compensate'; blame: { step: StepName; error: PurchaseError } }
  /** Compensating but nothing moves it: run what is left of compensation again. */
  | { do: 'redrive-compensation' }
  /** Ended, but outside undos were lost (`redrive`) or failed without recording it (`failed`). */
  | { do: 'repair-undos'; redrive: StepName[]; failed: StepName[] }
  /** An order cancel whose undos ended but whose settle never ran (its job lost): run settle-order. */
  | { do: 'settle-order' };

/** The watchdog's decision for a purchase open past its deadline. `order` as in atRoot. */
export function atDeadline(record: PurchaseRecord | undefined, jobs: JobStates, order?: string | null): AtDeadline {
  if (!record) return { do: 'close' };
  if (record.phase === 'done') {
    const open = openUndos(record);
    if (open.length === 0 && orderCancelOpen(record))
      return (jobs.orderCancel ?? []).some((s) => MOVING.has(s)) ? { do: 'wait' } : { do: 'settle-order' };
    if (open.length === 0) return { do: 'close' };
    if (open.some((s) => MOVING.has(jobs.undos[s] ?? 'unknown'))) return { do: 'wait' };
    // A job that no longer exists is re-added; one that ended without recording its outcome
    // (it stalled out, or its write was lost) has used its attempts: it is a review.
    return {
      do: 'repair-undos',
      redrive: open.filter((s) => (jobs.undos[s] ?? 'unknown') === 'unknown'),
      failed: open.filter((s) => (jobs.undos[s] ?? 'unknown') !== 'unknown'),
    };
  }
  if (jobs.saga.some((s) => MOVING.has(s))) return { do: 'wait' };
  if (record.phase === 'compensating') return { do: 'redrive-compensation' };
  if (record.steps[PIVOT] !== 'completed' && order === undefined) return { do: 'check-order' };
  if (passedPivot(record, Boolean(order))) return { do: 'complete' };
  const stuck = unfinishedBefore(record) ?? ROOT_STAGE.steps[0].name;
  return { do: 'compensate', blame: { step: stuck, error: didNotComplete(stuck, true) } };
}

/** What an order cancel request does (POST /v1/orders/:id/cancel), before the script records it. */
export type OrderCancelAnswer =
  /** Already canceled: answer with it. */
  | { do: 'show' }
  | { do: 'refuse'; why: 'window' | 'gone' }
  /** Start the order-cancel saga: these undos, money and stock first, each partner's beside them. */
  | { do: 'start'; undos: StepName[] };

/**
 * A placed order can be canceled within `windowS` of its creation, while its purchase record
 * (which the undos read) is kept. The order-cancel saga is the purchase's own compensation plan:
 * the same steps' undos (deprovision, restock, refund), planned the same way.
 */
export function atOrderCancel(
  order: { status: string; createdAt: string },
  record: PurchaseRecord | undefined,
  nowMs: number,
  windowS: number,
): OrderCancelAnswer {
  if (order.status === 'canceled') return { do: 'show' };
  if (nowMs - Date.parse(order.createdAt) > windowS * 1000) return { do: 'refuse', why: 'window' };
  if (!record) return { do: 'refuse', why: 'gone' };
  const plan = compensationPlan(record);
  return { do: 'start', undos: [...plan.money, ...plan.outside].map((s) => s.name) };
}

export type AtOrderSettle =
  | { do: 'nothing' }
  /** Mark the order canceled and tell the customer; `review` when money or stock could not be returned. */
  | { do: 'cancel-order'; review?: string };

/** Once the order cancel's money and stock undos ended (each done or failed for good). */
export function atOrderSettle(record: PurchaseRecord | undefined, orderStatus: string | undefined): AtOrderSettle {
  if (!record?.orderCancelRequestedAt || orderStatus === undefined || orderStatus === 'canceled')
    return { do: 'nothing' };
  const review = notCompensated(record);
  return { do: 'cancel-order', ...(review ? { review } : {}) };
}

export type AtRetry =
  /** Undos that failed for good: run them again (each from its first attempt). */
  | { do: 'redo-undos'; steps: StepName[] }
  /** Not ended, or an undo still open: re-drive it as the watchdog would, without waiting for the deadline. */
  | { do: 'reconcile' }
  /** Delivered, and what these steps did is gone (writes lost in a failover): each is redone. */
  | { do: 'repair'; steps: StepName[] }
  /** In review with nothing left undone: the review is resolved. */
  | { do: 'resolve' }
  | { do: 'nothing' };

/** Ended with its products the customer's: completed or partly, and its order not canceled. */
export const delivered = (record: PurchaseRecord) =>
  (record.status === 'completed' || record.status === 'partially_fulfilled') && !record.orderCancelRequestedAt;

/**
 * An operator's retry (POST /admin/purchases/:id/retry): what is left undone runs again, idempotently.
 * `lost`: the repairable steps whose work is gone, asked only of a delivered purchase. `leftover`:
 * the undoable steps whose undo the outside world no longer shows (an authorization made after its
 * void, a void lost in a failover), asked only of one that ended undone.
 */
export function atRetry(
  record: PurchaseRecord,
  lost: readonly StepName[] = [],
  leftover: readonly StepName[] = [],
): AtRetry {
  const failed = UNDOABLE.filter((s) => record.undos[s.name]?.status === 'failed').map((s) => s.name);
  if (failed.length) return { do: 'redo-undos', steps: failed };
  if (record.phase !== 'done' || openUndos(record).length) return { do: 'reconcile' };
  if (lost.length && delivered(record)) return { do: 'repair', steps: [...lost] };
  if (leftover.length && !delivered(record)) return { do: 'redo-undos', steps: [...leftover] };
  if (inReview(record)) return { do: 'resolve' };
  return { do: 'nothing' };
}
