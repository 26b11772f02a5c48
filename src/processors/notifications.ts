import type { Job } from 'bullmq';
import { postJson } from '../adapters/http-post.js';
import type { DeliverJobData } from '../queues/contract.js';
import type { WorkerContext } from './context.js';

/** Webhook delivery of stored notifications; the retry policy handles outages. */
export function notificationHandlers(ctx: WorkerContext) {
  return {
    deliver: async (job: Job<DeliverJobData>) => {
      if (!ctx.webhookUrl) return 'no-webhook';
      const notification = await ctx.stores.notifications.get(job.data.notificationId);
      if (!notification) return 'missing';
      await postJson(ctx.webhookUrl, notification, { idempotencyKey: notification.id, timeoutMs: ctx.integrationTimeoutMs });
      return 'delivered';
    },
  };
}
