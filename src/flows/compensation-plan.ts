import type { FlowJob } from 'bullmq';
import { jobId, QUEUES, SETTLE_JOB, STEPS, stepJobOptions, type RetryPolicy, type SagaJobData } from '../queues/contract.js';
import type { PurchaseRecord } from '../stores/purchase-store.js';

/**
 * The undo jobs a failed purchase needs, latest step first: every step that
 * completed, and the failed step itself (it may have done part of its work).
 * Undo jobs are idempotent, so undoing a step that did nothing is harmless.
 */
export function plannedUndos(record: PurchaseRecord): { step: (typeof STEPS)[number]; undo: string }[] {
  return STEPS.filter((s) => 'undo' in s && ['completed', 'failed'].includes(record.steps[s.name]))
    .reverse()
    .map((s) => ({ step: s, undo: (s as { undo: string }).undo }));
}

/**
 * Compensation as a flow: a chain of undo jobs ending in `settle`, which records
 * the terminal status. Undo jobs retry with backoff; one that still fails does
 * not stop the others (the customer is refunded even if deprovisioning is stuck),
 * and settle flags the purchase for review.
 */
export function buildCompensationFlow(record: PurchaseRecord, policy: RetryPolicy): FlowJob {
  const data: SagaJobData = { purchaseId: record.id };
  let node: FlowJob | undefined;
  // Latest step first: each next undo wraps the previous, so the latest ends up deepest and runs first.
  for (const { step, undo } of plannedUndos(record)) {
    node = {
      name: undo,
      queueName: QUEUES.compensation,
      data,
      opts: { ...stepJobOptions(policy), jobId: jobId(record.id, `undo-${step.name}`), ignoreDependencyOnFailure: true },
      ...(node ? { children: [node] } : {}),
    };
  }
  return {
    name: SETTLE_JOB,
    queueName: QUEUES.compensation,
    data,
    opts: { ...stepJobOptions(policy), jobId: jobId(record.id, SETTLE_JOB) },
    ...(node ? { children: [node] } : {}),
  };
}
