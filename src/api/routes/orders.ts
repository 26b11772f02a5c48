import { createRoute, z } from '@hono/zod-openapi';
import type { Queue } from 'bullmq';
import type { Context } from 'hono';
import { AppError } from '../../errors.js';
import type { Order } from '../../purchase/documents.js';
import { messages } from '../../purchase/messages.js';
import { QUEUES, type RetryPolicy } from '../../queues/contract.js';
import { shardQueue } from '../../queues/shard-queues.js';
import { orderCancelJob } from '../../saga/flows.js';
import { atOrderCancel } from '../../saga/transitions.js';
import type { Stores } from '../../stores/domain-stores.js';
import { listQuery, listResponses, type Lists } from '../lists.js';
import type { AuthEnv } from '../middleware/auth.js';
import type { PurchaseEvents } from '../purchase-events.js';
import { orderSchema } from '../response-schemas.js';
import { commonProblems, json, problem } from '../responses.js';
import { idParam } from '../schemas.js';
import { apiApp } from '../../http/validation.js';

export interface OrderRoutesDeps {
  stores: Stores;
  lists: Lists;
  events: PurchaseEvents;
  /** Every shard's queues: an order cancel is handed over as one job on its purchase's shard, as a purchase is. */
  queues: Queue[];
  policy: RetryPolicy;
  syncTimeoutMs: number;
  cancelWindowS: number;
}

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'Your orders (Order Management System)',
  tags: ['orders'],
  request: { query: listQuery },
  responses: listResponses(orderSchema, 'The orders of the customer'),
});

const getOne = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One order',
  tags: ['orders'],
  request: { params: idParam },
  responses: {
    200: json(orderSchema, 'The order.'),
    404: problem('Unknown id, or not yours (not_found).'),
    ...commonProblems,
  },
});

const location = z.object({ Location: z.string().openapi({ description: 'The URL of the order.' }) });

const cancel = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  summary: 'Cancel a placed order',
  description:
    'Within ORDER_CANCEL_WINDOW_S (default 14 days) of its createdAt: every unit is deprovisioned (partners get `{"event": "deprovision"}`), ' +
    'its stock returns and what was charged is refunded; the order becomes `canceled` with `canceledAt`, and its purchase stays `completed` ' +
    'with `payment.status: "refunded"`. The refund is never held up by a partner that is down: its undo is retried, and flagged for review if it fails for good. ' +
    'Answers 200 with the order once canceled (waiting at most SYNC_TIMEOUT_MS), else 202 with it as it stands; an order already canceled answers 200.',
  tags: ['orders'],
  request: { params: idParam },
  responses: {
    200: { ...json(orderSchema, 'The canceled order.'), headers: location },
    202: { ...json(orderSchema, 'The cancel is recorded; the refund is still on its way.'), headers: location },
    404: problem('Unknown id, or not yours (not_found).'),
    409: problem('Past the cancel window (not_cancelable).'),
    ...commonProblems,
  },
});

/** The customer's own orders, and their cancellation. */
export function orderRoutes(deps: OrderRoutesDeps) {
  const { stores, lists } = deps;
  const app = apiApp<AuthEnv>();
  const owned = async (c: Context<AuthEnv>, id: string): Promise<Order> => {
    const order = await stores.orders.get(id);
    if (!order || order.customerId !== c.get('customer').id) throw new AppError('not_found', 'No such order.');
    return order;
  };

  app.openapi(list, async (c) => {
    const customerId = c.get('customer').id;
    return c.json(
      await lists.page(c, `orders:${customerId}`, c.req.valid('query'), (after, limit) =>
        stores.orders.pageByCustomer(customerId, after, limit),
      ),
      200,
    );
  });
  app.openapi(getOne, async (c) => c.json(await owned(c, c.req.valid('param').id), 200));

  app.openapi(cancel, async (c) => {
    const order = await owned(c, c.req.valid('param').id);
    c.header('location', `/v1/orders/${order.id}`);
    const record = await stores.purchases.get(order.purchaseId);
    const decision = atOrderCancel(order, record, Date.now(), deps.cancelWindowS);
    if (decision.do === 'show') return c.json(order, 200);
    if (decision.do === 'refuse')
      throw new AppError(
        'not_cancelable',
        decision.why === 'window'
          ? messages.notCancelable.orderWindow(Math.round(deps.cancelWindowS / 86_400))
          : messages.notCancelable.orderGone(),
        { purchaseId: order.purchaseId },
      );
    const outcome = await stores.purchases.requestOrderCancel(order.purchaseId, decision.undos);
    if (outcome === 'missing')
      throw new AppError('not_cancelable', messages.notCancelable.orderGone(), { purchaseId: order.purchaseId });
    if (outcome === 'not-completed')
      throw new AppError('not_cancelable', messages.notCancelable.finished(record?.status ?? 'gone'), {
        purchaseId: order.purchaseId,
      });
    // Requested now or before: (re-)adding the hand-off adds it once, and restarts one whose job was lost.
    const job = orderCancelJob(order.purchaseId, deps.policy);
    await shardQueue(deps.queues, stores.keys, order.purchaseId, QUEUES.orchestrator).add(job.name, job.data, job.opts);
    const canceled = await deps.events.waitUntil(order.purchaseId, deps.syncTimeoutMs, async () => {
      const now = await stores.orders.get(order.id);
      return now?.status === 'canceled' ? now : undefined;
    });
    return canceled ? c.json(canceled, 200) : c.json((await stores.orders.get(order.id)) ?? order, 202);
  });
  return app;
}
