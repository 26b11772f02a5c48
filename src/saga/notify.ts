import { notificationDocs, type NotificationDraft } from '../purchase/notifications.js';
import { deliverByWebhook } from '../queues/webhook-delivery.js';
import type { SagaContext } from './context.js';

/**
 * Stores customer notifications once each (ids derive from purchase, type and
 * seq) in one round trip and, when a webhook is configured, queues their
 * delivery with retries.
 */
export async function notify(
  ctx: Pick<SagaContext, 'stores' | 'webhookQueue'>,
  customerId: string,
  purchaseId: string,
  ...drafts: NotificationDraft[]
): Promise<void> {
  const docs = notificationDocs(customerId, purchaseId, drafts);
  await ctx.stores.notifications.putAllOnce(docs);
  await deliverByWebhook(ctx.webhookQueue, docs);
}
