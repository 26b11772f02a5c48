import type { FlowJob } from 'bullmq';
import { jobId, ROOT_STAGE, STAGES, START_STAGE, stepJobOptions, type RetryPolicy, type SagaJobData } from '../queues/contract.js';

/**
 * The purchase after its `prepare` stage, as a BullMQ flow: a chain in which each
 * stage is the child of the next, so `charge` is the deepest leaf and `complete`
 * is the root. A child that fails for good does not block its parent
 * (ignoreDependencyOnFailure): the parent runs, reads the failure from the purchase
 * record and skips, so the root always runs and no parent waits forever.
 */
export function buildPurchaseFlow(purchaseId: string, policy: RetryPolicy, rootAttempts: number): FlowJob {
  const data: SagaJobData = { purchaseId };
  let node: FlowJob | undefined;
  for (const stage of STAGES.filter((s) => s !== START_STAGE)) {
    const isRoot = stage === ROOT_STAGE;
    node = {
      name: stage.job,
      queueName: stage.queue,
      data,
      opts: {
        ...stepJobOptions(isRoot ? { ...policy, attempts: rootAttempts } : policy),
        jobId: jobId(purchaseId, stage.name),
        ...(isRoot ? {} : { ignoreDependencyOnFailure: true }),
      },
      ...(node ? { children: [node] } : {}),
    };
  }
  return node!;
}

/** The gateway's hand-off: the `prepare` stage as a single job. */
export function startJob(purchaseId: string, policy: RetryPolicy) {
  const data: SagaJobData = { purchaseId };
  return { name: START_STAGE.job, data, opts: { ...stepJobOptions(policy), jobId: jobId(purchaseId, START_STAGE.name) } };
}
