import type { FlowJob } from 'bullmq';
import { SAGA, stageOf, STEPS } from '../src/saga/saga.js';

/** The queues the saga's steps run on, so the baseline flow has the same fan-out over queues. */
export const BASELINE_QUEUES = [...new Set(SAGA.map((s) => `bench-${s.queue}`))];

/**
 * The obvious alternative: a bare BullMQ flow with one job per saga step (a chain as
 * deep as the saga has steps), each job on the queue its step runs on, doing no work.
 * With `perStage`, one job per stage instead: the same job count as our own flow.
 */
export function baselineFlow(id: string, perStage = false): FlowJob {
  const units = perStage
    ? SAGA.map((s) => ({ name: s.name, queue: s.queue }))
    : STEPS.map((s) => ({ name: s.name, queue: stageOf(s).queue }));
  let node: FlowJob | undefined;
  for (const unit of units) {
    node = {
      name: unit.name,
      queueName: `bench-${unit.queue}`,
      data: { purchaseId: id },
      opts: { jobId: `${id}-${unit.name}`, removeOnComplete: { age: 3600, count: 5000 } },
      ...(node ? { children: [node] } : {}),
    };
  }
  return node!;
}

/** The root job id, whose completion ends a baseline flow. */
export const baselineRootId = (id: string, perStage = false) =>
  `${id}-${perStage ? SAGA[SAGA.length - 1]!.name : STEPS[STEPS.length - 1]!.name}`;
