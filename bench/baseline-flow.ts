import type { FlowJob } from 'bullmq';
import { stageDef, STEPS } from '../src/queues/contract.js';

/** The queues the saga's steps run on, so the baseline flow has the same fan-out over queues. */
export const BASELINE_QUEUES = [...new Set(STEPS.map((s) => `bench-${stageDef(s.stage).queue}`))];

/**
 * The obvious alternative: a bare BullMQ flow with one job per saga step (a chain as
 * deep as the saga has steps), each job on the queue its step runs on, doing no work.
 * With `perStage`, one job per stage instead: the same job count as our own flow.
 */
export function baselineFlow(id: string, perStage = false): FlowJob {
  const units = perStage ? [...new Map(STEPS.map((s) => [s.stage, s])).values()] : STEPS;
  let node: FlowJob | undefined;
  for (const unit of units) {
    node = {
      name: perStage ? unit.stage : unit.name,
      queueName: `bench-${stageDef(unit.stage).queue}`,
      data: { purchaseId: id },
      opts: { jobId: `${id}-${perStage ? unit.stage : unit.name}`, removeOnComplete: { age: 3600, count: 5000 } },
      ...(node ? { children: [node] } : {}),
    };
  }
  return node!;
}

/** The root job id, whose completion ends a baseline flow. */
export const baselineRootId = (id: string, perStage = false) => `${id}-${perStage ? STEPS[STEPS.length - 1].stage : STEPS[STEPS.length - 1].name}`;
