import type { Notification } from '../purchase/documents.js';
import { notificationDocs, type NotificationDraft } from '../purchase/notifications.js';
import { deliverByWebhook } from '../queues/webhook-delivery.js';
import type { SagaContext } from './context.js';

type NotifyContext = Pick<SagaContext, 'stores' | 'webhookQueue'>;

/**
 * Stores customer notifications once each (ids derive from purchase, type and
 * seq) in one round trip and, when a webhook is configured, queues their
 * delivery with retries.
 */
export async function notify(
  ctx: NotifyContext,
  customerId: string,
  purchaseId: string,
  ...drafts: NotificationDraft[]
): Promise<void> {
  await storeAndDeliver(ctx, notificationDocs(customerId, purchaseId, drafts));
}

/** Stores these notification documents once each and queues their webhook delivery (notify's second half; an operator's retry re-sends lost ones through it). */
export async function storeAndDeliver(ctx: NotifyContext, docs: Notification[]): Promise<void> {
  await ctx.stores.notifications.putAllOnce(docs);
  await deliverByWebhook(ctx.webhookQueue, docs);
}
