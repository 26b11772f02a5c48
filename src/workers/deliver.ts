import type { Job } from 'bullmq';
import { postJson } from '../adapters/http-post.js';
import { webhookSigner } from '../adapters/webhook-signing.js';
import type { DeliverJobData } from '../queues/contract.js';
import type { SagaContext } from '../saga/context.js';

/**
 * Webhook delivery of stored notifications; the retry policy handles outages. With a secret, each
 * attempt is signed as Standard Webhooks says, the notification id (also the Idempotency-Key) as webhook-id.
 */
export function deliverHandler(
  ctx: Pick<SagaContext, 'stores' | 'integrationTimeoutMs'>,
  webhook: { url: string | undefined; secret: string | undefined },
) {
  const signer = webhook.secret ? webhookSigner(webhook.secret) : undefined;
  return async (job: Job<DeliverJobData>) => {
    if (!webhook.url) return 'no-webhook';
    const notification = await ctx.stores.notifications.get(job.data.notificationId);
    if (!notification) return 'missing';
    await postJson(webhook.url, notification, {
      idempotencyKey: notification.id,
      timeoutMs: ctx.integrationTimeoutMs,
      ...(signer ? { sign: signer(notification.id) } : {}),
    });
    return 'delivered';
  };
}
