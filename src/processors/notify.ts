import type { Queue } from 'bullmq';
import type { Notification, NotificationType } from '../stores/domain-stores.js';
import { DELIVER_JOB, stepJobOptions, type DeliverJobData } from '../queues/contract.js';
import type { WorkerContext } from './context.js';

export interface NotificationDraft {
  type: NotificationType;
  message: string;
  details?: Record<string, unknown>;
  /** Distinguishes several notifications of one type for one purchase. */
  seq?: number;
}

/** Derived from purchase, type and seq, so writing it again finds the first one. */
export const notificationId = (purchaseId: string, type: NotificationType, seq?: number) =>
  `ntf_${purchaseId.replace(/^pur_/, '')}_${type}${seq === undefined ? '' : `_${seq}`}`;

/** The documents of `drafts`, ids derived from purchase, type and seq. */
export function notificationDocs(customerId: string, purchaseId: string, drafts: NotificationDraft[], createdAt = new Date().toISOString()): Notification[] {
  return drafts.map((d) => ({
    id: notificationId(purchaseId, d.type, d.seq),
    type: d.type,
    customerId,
    purchaseId,
    message: d.message,
    details: d.details ?? {},
    createdAt,
  }));
}

/** Queues the webhook delivery of stored notifications, with retries (a no-op without a webhook). */
export async function deliverByWebhook(webhookQueue: Queue | undefined, docs: Notification[]): Promise<void> {
  if (!webhookQueue || docs.length === 0) return;
  const opts = stepJobOptions({ attempts: 10, backoffMs: 1_000 });
  await webhookQueue.addBulk(docs.map((d) => ({ name: DELIVER_JOB, data: { notificationId: d.id } satisfies DeliverJobData, opts: { ...opts, jobId: d.id } })));
}

/**
 * Stores customer notifications once each (ids derive from purchase, type and
 * seq) in one round trip and, when a webhook is configured, queues their
 * delivery with retries.
 */
export async function notify(
  ctx: Pick<WorkerContext, 'stores' | 'webhookQueue'>,
  customerId: string,
  purchaseId: string,
  ...drafts: NotificationDraft[]
): Promise<void> {
  const docs = notificationDocs(customerId, purchaseId, drafts);
  await ctx.stores.notifications.putAllOnce(docs);
  await deliverByWebhook(ctx.webhookQueue, docs);
}
