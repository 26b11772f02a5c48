import { createRoute, z } from '@hono/zod-openapi';
import type { Queue } from 'bullmq';
import { AppError } from '../../errors.js';
import { retryJobId } from '../../ids.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { inReview, type PurchaseRecord } from '../../purchase/record.js';
import { QUEUES, RETRY_JOB, stepJobOptions, type RetryPolicy } from '../../queues/contract.js';
import { shardQueue } from '../../queues/shard-queues.js';
import type { Stores } from '../../stores/domain-stores.js';
import { apiApp } from '../../http/validation.js';
import { listQuery, type Lists } from '../lists.js';
import { idParam } from '../schemas.js';
import { adminPurchaseView, jobsOf, reviewLine } from '../operator.js';

export interface AdminPurchaseDeps {
  stores: Stores;
  queues: Queue[];
  lists: Lists;
  metrics: GatewayMetrics;
  /** Retry jobs go to the orchestrator queue with this policy. */
  policy: RetryPolicy;
  /** Who resolves by hand (HTTP Basic's user). */
  user: string;
}

const reviewQuery = listQuery.extend({ review: z.enum(['manual_review']) });
export const resolveBody = z.object({ note: z.string().min(1).max(2_000) }).strict();

// Operator routes stay out of the customer API's document (contract §4.2): `hide: true`.
const getOne = createRoute({
  method: 'get',
  path: '/{id}',
  hide: true,
  request: { params: idParam },
  responses: { 200: { description: 'Any purchase.' } },
});
const reviewQueue = createRoute({
  method: 'get',
  path: '/',
  hide: true,
  request: { query: reviewQuery },
  responses: { 200: { description: 'Purchases flagged for review, newest flag first.' } },
});
const retry = createRoute({
  method: 'post',
  path: '/{id}/retry',
  hide: true,
  request: { params: idParam },
  responses: { 202: { description: 'The retry is queued.' } },
});
const resolve = createRoute({
  method: 'post',
  path: '/{id}/resolve',
  hide: true,
  request: { params: idParam, body: { required: true, content: { 'application/json': { schema: resolveBody } } } },
  responses: { 200: { description: 'The review is resolved.' } },
});

/** The operator's actions on purchases (contract §7): look, list the review queue, retry, resolve. */
export function operatorActions(deps: AdminPurchaseDeps) {
  const { stores } = deps;
  const load = async (id: string): Promise<PurchaseRecord> => {
    const record = await stores.purchases.get(id);
    if (!record) throw new AppError('not_found', `No purchase ${id}.`);
    return record;
  };
  return {
    load,
    view: async (id: string) => adminPurchaseView(await load(id), await jobsOf(deps.queues, stores.keys, id)),
    async retry(id: string) {
      await load(id);
      await shardQueue(deps.queues, stores.keys, id, QUEUES.orchestrator).add(
        RETRY_JOB,
        { purchaseId: id },
        { ...stepJobOptions(deps.policy), jobId: retryJobId(id) },
      );
      deps.metrics.operatorRetries.inc();
    },
    async resolve(id: string, note: string) {
      const record = await load(id);
      if (!record.review) throw new AppError('validation_error', 'This purchase is not flagged for review.');
      if (inReview(record)) {
        await stores.purchases.resolveReview(id, { how: 'manual', by: deps.user, at: new Date().toISOString(), note });
        deps.metrics.reviewsResolved.inc({ how: 'manual' });
      }
      return load(id);
    },
  };
}

export function adminPurchaseRoutes(deps: AdminPurchaseDeps) {
  const app = apiApp();
  const actions = operatorActions(deps);
  app.openapi(reviewQueue, async (c) => {
    const query = c.req.valid('query');
    const records = await deps.lists.page(c, 'admin:review', query, (after, limit) =>
      deps.stores.purchases.pageInReview(after, limit),
    );
    return c.json(records.map(reviewLine), 200);
  });
  app.openapi(getOne, async (c) => c.json(await actions.view(c.req.valid('param').id), 200));
  app.openapi(retry, async (c) => {
    const { id } = c.req.valid('param');
    await actions.retry(id);
    c.header('location', `/admin/purchases/${id}`);
    return c.json({ id, retry: 'queued' }, 202);
  });
  app.openapi(resolve, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await actions.view((await actions.resolve(id, c.req.valid('json').note)).id), 200);
  });
  return app;
}
