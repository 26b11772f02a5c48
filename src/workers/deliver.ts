import type { Job } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { postJson } from '../adapters/http-post.js';
import type { DeliverJobData } from '../queues/contract.js';
import type { SagaContext } from '../saga/context.js';

/**
 * Webhook delivery of stored notifications; the retry policy handles outages. With a secret, each
 * attempt is signed as Standard Webhooks says: the notification id (also the Idempotency-Key) as
 * webhook-id, and a fresh timestamp, so a delivery retried after the receiver's tolerance still verifies.
 */
export function deliverHandler(
  ctx: Pick<SagaContext, 'stores' | 'integrationTimeoutMs'>,
  webhook: { url: string | undefined; secret: string | undefined },
) {
  const signer = webhook.secret ? new Webhook(webhook.secret) : undefined;
  return async (job: Job<DeliverJobData>) => {
    if (!webhook.url) return 'no-webhook';
    const notification = await ctx.stores.notifications.get(job.data.notificationId);
    if (!notification) return 'missing';
    const sign = signer
      ? (payload: string) => {
          const at = new Date();
          return {
            'webhook-id': notification.id,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signer.sign(notification.id, at, payload),
          };
        }
      : undefined;
    await postJson(webhook.url, notification, {
      idempotencyKey: notification.id,
      timeoutMs: ctx.integrationTimeoutMs,
      ...(sign ? { sign } : {}),
    });
    return 'delivered';
  };
}
