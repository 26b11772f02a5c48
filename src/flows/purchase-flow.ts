import type { FlowJob } from 'bullmq';
import { jobId, STEPS, stepJobOptions, type RetryPolicy, type SagaJobData } from '../queues/contract.js';

/**
 * A purchase as a BullMQ flow: a chain in which each step is the child of the
 * next, so the first step is the deepest leaf and `complete` is the root.
 * A child that fails for good does not block its parent (ignoreDependencyOnFailure):
 * the parent runs, reads the failure from the purchase record and skips, so the
 * root always runs and no parent waits for its children forever.
 */
export function buildPurchaseFlow(purchaseId: string, policy: RetryPolicy, rootAttempts: number): FlowJob {
  const data: SagaJobData = { purchaseId };
  let node: FlowJob | undefined;
  for (const step of STEPS) {
    const isRoot = step === STEPS[STEPS.length - 1];
    const job: FlowJob = {
      name: step.job,
      queueName: step.queue,
      data,
      opts: {
        ...stepJobOptions(isRoot ? { ...policy, attempts: rootAttempts } : policy),
        jobId: jobId(purchaseId, step.name),
        ...(isRoot ? {} : { ignoreDependencyOnFailure: true }),
      },
      ...(node ? { children: [node] } : {}),
    };
    node = job;
  }
  return node!;
}
