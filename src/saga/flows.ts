import type { FlowJob } from 'bullmq';
import { orderCancelJobId, orderSettleJobId, redoJobId, settleJobId, stageJobId, undoJobId } from '../ids.js';
import {
  CANCEL_ORDER_JOB,
  SETTLE_JOB,
  SETTLE_ORDER_JOB,
  stepJobOptions,
  type QueueName,
  type RetryPolicy,
  type SagaJobData,
} from '../queues/contract.js';
import type { RepairableStep, UndoableStep } from './define-step.js';
import { ROOT_STAGE, SAGA, stageOf, START_STAGE, UNDOABLE } from './saga.js';
import type { CompensationPlan } from './transitions.js';

/**
 * Pure builders of the BullMQ jobs a purchase runs as. Ids are derived from the
 * purchase, so adding a job twice adds it once.
 */

/**
 * The purchase after its first stage, as a flow: a chain in which each stage is the
 * child of the next, so the second stage is the deepest leaf and the last is the root.
 * A child that fails for good does not block its parent (ignoreDependencyOnFailure):
 * the parent runs, reads the failure from the record and skips, so the root always
 * runs and no parent waits forever.
 */
export function purchaseFlow(purchaseId: string, policy: RetryPolicy, rootAttempts: number): FlowJob {
  const data: SagaJobData = { purchaseId };
  let node: FlowJob | undefined;
  for (const stage of SAGA.filter((s) => s !== START_STAGE)) {
    const isRoot = stage === ROOT_STAGE;
    node = {
      name: stage.job,
      queueName: stage.queue,
      data,
      opts: {
        ...stepJobOptions(isRoot ? { ...policy, attempts: rootAttempts } : policy),
        jobId: stageJobId(purchaseId, stage.name),
        ...(isRoot ? {} : { ignoreDependencyOnFailure: true }),
      },
      ...(node ? { children: [node] } : {}),
    };
  }
  return node!;
}

/** The gateway's hand-off: the first stage as a single job. */
export function startJob(purchaseId: string, policy: RetryPolicy) {
  const data: SagaJobData = { purchaseId };
  return {
    name: START_STAGE.job,
    data,
    opts: { ...stepJobOptions(policy), jobId: stageJobId(purchaseId, START_STAGE.name) },
  };
}

/** The root stage as a job of its own, for the watchdog to re-drive a completion. */
export function rootJob(purchaseId: string, policy: RetryPolicy) {
  const data: SagaJobData = { purchaseId };
  return {
    name: ROOT_STAGE.job,
    queue: ROOT_STAGE.queue,
    data,
    opts: { ...stepJobOptions(policy), jobId: stageJobId(purchaseId, ROOT_STAGE.name) },
  };
}

const undoJob = (purchaseId: string, step: UndoableStep, policy: RetryPolicy, child: boolean): FlowJob => ({
  name: step.compensate.job,
  queueName: stageOf(step).queue,
  data: { purchaseId } satisfies SagaJobData,
  opts: {
    ...stepJobOptions(policy),
    jobId: undoJobId(purchaseId, step.name),
    ...(child ? { ignoreDependencyOnFailure: true } : {}),
  },
});

/**
 * Compensation, money first: `settle` (which ends the purchase `failed`) waits only for the
 * money and stock undos, which are siblings and wait for nothing; the outside undos are jobs
 * of their own beside it. Each undo runs on its step's queue. An undo that fails for good
 * does not stop the others: settle still runs and flags the purchase for review.
 * All of it is added in one `addBulk`, a single MULTI.
 */
export function compensationFlows(purchaseId: string, plan: CompensationPlan, policy: RetryPolicy): FlowJob[] {
  return undoFlows(purchaseId, plan, policy, SETTLE_JOB, settleJobId(purchaseId));
}

/**
 * The order-cancel saga, built from the same steps' undos in the same shape: `settle-order`
 * (which marks the order canceled) waits for the refund and the restock only; each unit's
 * deprovision at its partner runs beside it and never holds the refund up.
 */
export function orderCancelFlows(purchaseId: string, plan: CompensationPlan, policy: RetryPolicy): FlowJob[] {
  return undoFlows(purchaseId, plan, policy, SETTLE_ORDER_JOB, orderSettleJobId(purchaseId));
}

/** settle-order on its own, for the watchdog to end an order cancel whose settle job was lost. */
export function orderSettleJob(purchaseId: string, policy: RetryPolicy) {
  const data: SagaJobData = { purchaseId };
  return {
    name: SETTLE_ORDER_JOB,
    queue: ROOT_STAGE.queue,
    data,
    opts: { ...stepJobOptions(policy), jobId: orderSettleJobId(purchaseId) },
  };
}

/** The gateway's hand-off of an order cancel: one job, which adds the order-cancel flows. */
export function orderCancelJob(purchaseId: string, policy: RetryPolicy) {
  const data: SagaJobData = { purchaseId };
  return { name: CANCEL_ORDER_JOB, data, opts: { ...stepJobOptions(policy), jobId: orderCancelJobId(purchaseId) } };
}

function undoFlows(
  purchaseId: string,
  plan: CompensationPlan,
  policy: RetryPolicy,
  name: string,
  jobId: string,
): FlowJob[] {
  const settle: FlowJob = {
    name,
    queueName: ROOT_STAGE.queue,
    data: { purchaseId } satisfies SagaJobData,
    opts: { ...stepJobOptions(policy), jobId },
    ...(plan.money.length ? { children: plan.money.map((s) => undoJob(purchaseId, s, policy, true)) } : {}),
  };
  return [settle, ...undoJobsAlone(purchaseId, plan.outside, policy)];
}

/**
 * Undos as jobs of their own, outside any flow: the outside undos beside settle, one the watchdog
 * re-adds after its job was lost, and the failed ones an operator's retry runs again.
 */
export const undoJobsAlone = (purchaseId: string, steps: readonly UndoableStep[], policy: RetryPolicy): FlowJob[] =>
  steps.map((s) => undoJob(purchaseId, s, policy, false));

/** An operator retry's queued redos (repairs with a `job`), each on its step's stage queue, with a fresh id. */
export const redoJobs = (
  purchaseId: string,
  steps: readonly RepairableStep[],
  policy: RetryPolicy,
  at = Date.now(),
): FlowJob[] =>
  steps.flatMap((s) =>
    s.repair.job
      ? [
          {
            name: s.repair.job,
            queueName: stageOf(s).queue,
            data: { purchaseId } satisfies SagaJobData,
            opts: { ...stepJobOptions(policy), jobId: redoJobId(purchaseId, s.repair.job, at) },
          },
        ]
      : [],
  );

/** Every job a purchase may run as, by queue and id (an operator looks them up): its stages, undos and settles. */
export function purchaseJobs(purchaseId: string): { kind: string; name: string; queue: QueueName; id: string }[] {
  return [
    ...SAGA.map((s) => ({
      kind: 'stage',
      name: s.job,
      queue: s.queue as QueueName,
      id: stageJobId(purchaseId, s.name),
    })),
    ...UNDOABLE.map((s) => ({
      kind: 'undo',
      name: s.compensate.job,
      queue: stageOf(s).queue,
      id: undoJobId(purchaseId, s.name),
    })),
    { kind: 'settle', name: SETTLE_JOB, queue: ROOT_STAGE.queue, id: settleJobId(purchaseId) },
    { kind: 'order-cancel', name: CANCEL_ORDER_JOB, queue: START_STAGE.queue, id: orderCancelJobId(purchaseId) },
    { kind: 'settle', name: SETTLE_ORDER_JOB, queue: ROOT_STAGE.queue, id: orderSettleJobId(purchaseId) },
  ];
}
