import type { Queue } from 'bullmq';
import { reviewStatus, type PurchaseRecord, type ReviewResolution } from '../purchase/record.js';
import { purchaseJobs } from '../saga/flows.js';
import { STEP_NAMES } from '../saga/saga.js';
import { purchaseView } from './views.js';
import type { Keys } from '../keys.js';
import { boardName, shardQueue } from '../queues/shard-queues.js';

/** A purchase's job as Bull Board knows it, with a link there. */
export interface JobView {
  kind: string;
  name: string;
  queue: string;
  id: string;
  state: string;
  attempts: number;
  failedReason?: string;
  addedAt?: string;
  processedAt?: string;
  finishedAt?: string;
  board: string;
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/** The BullMQ state of every job a purchase may run as; jobs that never existed (or were trimmed) are left out. */
export async function jobsOf(queues: Queue[], keys: Keys, purchaseId: string): Promise<JobView[]> {
  const found = await Promise.all(
    purchaseJobs(purchaseId).map(async (j): Promise<JobView | undefined> => {
      const job = await shardQueue(queues, keys, purchaseId, j.queue).getJob(j.id);
      if (!job) return undefined;
      return {
        ...j,
        state: await job.getState(),
        attempts: job.attemptsMade,
        ...(job.failedReason ? { failedReason: job.failedReason } : {}),
        ...(iso(job.timestamp) ? { addedAt: iso(job.timestamp) } : {}),
        ...(iso(job.processedOn) ? { processedAt: iso(job.processedOn) } : {}),
        ...(iso(job.finishedOn) ? { finishedAt: iso(job.finishedOn) } : {}),
        board: `/admin/queues/queue/${encodeURIComponent(boardName(keys, purchaseId, j.queue))}/${encodeURIComponent(j.id)}`,
      };
    }),
  );
  return found.filter((j): j is JobView => j !== undefined);
}

/**
 * The operator's view of a purchase (GET /admin/purchases/:id): the customer's view plus who it
 * belongs to, its review (with how it was resolved), each step with when it last changed and the
 * full outcome of its undo, the cancel requests, and its jobs.
 */
export function adminPurchaseView(r: PurchaseRecord, jobs: JobView[]) {
  const status = reviewStatus(r);
  const review: { status: 'manual_review' | 'resolved'; reason: string; resolution?: ReviewResolution } | undefined =
    status
      ? { status, reason: r.review!, ...(r.reviewResolution ? { resolution: r.reviewResolution } : {}) }
      : undefined;
  const { review: _, error: __, steps: ___, ...base } = purchaseView(r);
  return {
    ...base,
    customerId: r.customerId,
    ...(review ? { review } : {}),
    ...(r.error ? { error: r.error } : {}),
    steps: STEP_NAMES.map((name) => ({
      name,
      status: r.steps[name] ?? 'pending',
      ...(r.stepTimes?.[name] ? { at: r.stepTimes[name] } : {}),
      ...(r.undos[name] ? { undo: r.undos[name] } : {}),
    })),
    ...(r.cancelRequestedAt ? { cancelRequestedAt: r.cancelRequestedAt } : {}),
    ...(r.orderCancelRequestedAt ? { orderCancelRequestedAt: r.orderCancelRequestedAt } : {}),
    phase: r.phase,
    jobs,
  };
}

export type AdminPurchaseView = ReturnType<typeof adminPurchaseView>;

/** One line of the review queue. */
export const reviewLine = (r: PurchaseRecord) => ({
  id: r.id,
  customerId: r.customerId,
  status: r.status,
  review: { status: reviewStatus(r)!, reason: r.review! },
  updatedAt: r.updatedAt,
});
