import type { FlowJob } from 'bullmq';
import { STEPS } from '../src/queues/contract.js';

/** The same queues as the saga, so the baseline flow has the same depth and fan-out. */
export const BASELINE_QUEUES = [...new Set(STEPS.map((s) => `bench-${s.queue}`))];

export function baselineFlow(id: string): FlowJob {
  let node: FlowJob | undefined;
  for (const step of STEPS) {
    node = {
      name: step.job,
      queueName: `bench-${step.queue}`,
      data: { purchaseId: id },
      opts: { jobId: `${id}-${step.name}`, removeOnComplete: { age: 3600, count: 5000 }, ...(node ? {} : {}) },
      ...(node ? { children: [node] } : {}),
    };
  }
  return node!;
}
