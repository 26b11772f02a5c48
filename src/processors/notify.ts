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

/**
 * Stores a customer notification once (its id is derived from purchase, type and
 * seq) and, when a webhook is configured, queues its delivery with retries.
 */
export async function notify(
  ctx: Pick<WorkerContext, 'stores' | 'webhookQueue'>,
  customerId: string,
  purchaseId: string,
  draft: NotificationDraft,
): Promise<Notification> {
  const id = notificationId(purchaseId, draft.type, draft.seq);
  const stored = await ctx.stores.notifications.putOnce({
    id,
    type: draft.type,
    customerId,
    purchaseId,
    message: draft.message,
    details: draft.details ?? {},
    createdAt: new Date().toISOString(),
  });
  if (ctx.webhookQueue) {
    const data: DeliverJobData = { notificationId: id };
    await ctx.webhookQueue.add(DELIVER_JOB, data, { ...stepJobOptions({ attempts: 10, backoffMs: 1_000 }), jobId: id });
  }
  return stored;
}
