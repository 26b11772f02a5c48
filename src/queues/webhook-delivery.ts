import type { Queue } from 'bullmq';
import type { Notification } from '../purchase/documents.js';
import { DELIVER_JOB, stepJobOptions, type DeliverJobData } from './contract.js';

/** Queues the webhook delivery of stored notifications, with retries (a no-op without a webhook). */
export async function deliverByWebhook(webhookQueue: Queue | undefined, docs: Notification[]): Promise<void> {
  if (!webhookQueue || docs.length === 0) return;
  const opts = stepJobOptions({ attempts: 10, backoffMs: 1_000 });
  await webhookQueue.addBulk(
    docs.map((d) => ({
      name: DELIVER_JOB,
      data: { notificationId: d.id } satisfies DeliverJobData,
      opts: { ...opts, jobId: d.id },
    })),
  );
}
