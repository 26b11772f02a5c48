import { Job, type Queue } from 'bullmq';
import { stageJobId } from '../ids.js';
import type { PurchaseRecord } from '../purchase/record.js';
import type { QueueName } from '../queues/contract.js';
import { stageOf, stepNamed } from './saga.js';

/**
 * Wakes a purchase's step that waits for the outside world (the customer acted, a webhook came, the
 * customer canceled): its parked stage job runs now instead of at its next check. Nothing happens
 * when no step waits or its job is not parked (it is running, or woke by itself): the step asks
 * the outside world again when it runs anyway, so a wake is only ever a hint. True when it woke one.
 */
export async function wakeWaitingStep(queueOf: (name: QueueName) => Queue, record: PurchaseRecord): Promise<boolean> {
  const step = record.waiting?.step ? stepNamed(record.waiting.step) : undefined;
  if (!step) return false;
  const stage = stageOf(step);
  const job = await Job.fromId(queueOf(stage.queue), stageJobId(record.id, stage.name));
  if (!job || !(await job.isDelayed())) return false;
  // Moved on between the two reads (it woke by itself): nothing left to wake.
  return job.promote().then(
    () => true,
    () => false,
  );
}
