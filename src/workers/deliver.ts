import type { Job } from 'bullmq';
import { postJson } from '../adapters/http-post.js';
import type { DeliverJobData } from '../queues/contract.js';
import type { SagaContext } from '../saga/context.js';

/** Webhook delivery of stored notifications; the retry policy handles outages. */
export function deliverHandler(ctx: Pick<SagaContext, 'stores' | 'integrationTimeoutMs'>, webhookUrl: string | undefined) {
  return async (job: Job<DeliverJobData>) => {
    if (!webhookUrl) return 'no-webhook';
    const notification = await ctx.stores.notifications.get(job.data.notificationId);
    if (!notification) return 'missing';
    await postJson(webhookUrl, notification, { idempotencyKey: notification.id, timeoutMs: ctx.integrationTimeoutMs });
    return 'delivered';
  };
}
