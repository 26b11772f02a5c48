import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../../errors.js';
import { ANSWERABLE, TERMINAL, type PurchaseRecord } from '../../purchase/record.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { listQuery, listResponses, type Lists } from '../lists.js';
import type { AuthEnv } from '../middleware/auth.js';
import { streamPurchase, type PurchaseStreamDeps } from '../purchase-stream.js';
import type { PurchaseService } from '../purchase-service.js';
import { acknowledgement, purchaseView as purchaseSchema } from '../response-schemas.js';
import { commonProblems, json, problem as problemResponse } from '../responses.js';
import { idParam, purchaseBody, purchaseHeaders } from '../schemas.js';
import { apiApp } from '../../http/validation.js';
import { purchaseView, statusUrl } from '../views.js';
import { messages } from '../../purchase/messages.js';
import { afterPivotWait, atCancelRequest, atClaimedPivot, PIVOT, type CancelRefusal } from '../../saga/transitions.js';

export interface PurchaseRoutesDeps extends PurchaseStreamDeps {
  service: PurchaseService;
  metrics: GatewayMetrics;
  lists: Lists;
  mode: 'sync' | 'async';
  syncTimeoutMs: number;
  /** Wakes a purchase waiting for the outside world: a cancel ends the wait at once. */
  wake(purchaseId: string): Promise<void>;
}

const location = z.object({ Location: z.string().openapi({ description: 'The status URL of the purchase.' }) });

const buy = (purchaseLimit: MiddlewareHandler<AuthEnv>) =>
  createRoute({
    method: 'post',
    path: '/',
    summary: 'Buy products',
    description:
      'Sync (default): waits for the outcome up to SYNC_TIMEOUT_MS, then answers 201 with the purchase, a problem with its error code, or 202 if still running. ' +
      'Async (`Prefer: respond-async`): 202 at once. Rate-limited per customer.',
    tags: ['purchases'],
    middleware: [purchaseLimit] as const,
    request: {
      headers: purchaseHeaders,
      body: { required: true, content: { 'application/json': { schema: purchaseBody } } },
    },
    responses: {
      201: { ...json(purchaseSchema, 'The purchase completed or partially completed.'), headers: location },
      202: {
        ...json(
          z.union([acknowledgement, purchaseSchema]),
          'Accepted and still running: poll `statusUrl` or stream its events. A purchase waiting for its ' +
            "customer's payment action answers at once with the purchase (`requires_action`, `payment.nextAction`).",
        ),
        headers: location,
      },
      400: problemResponse('Malformed JSON, wrong types, unknown fields, quantities out of range (validation_error).'),
      402: problemResponse('Payment declined or not taken (payment_failed).'),
      409: problemResponse('out_of_stock, missing_dependencies or quota_exceeded.'),
      413: problemResponse('A body over 64 KiB (payload_too_large).'),
      422: problemResponse(
        'invalid_product, incomplete_customization, invalid_customization, rule_rejected or idempotency_key_reused.',
      ),
      502: problemResponse('A step failed after payment; everything was rolled back (purchase_failed).'),
      ...commonProblems,
    },
  });

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'Your purchases',
  tags: ['purchases'],
  request: { query: listQuery },
  responses: listResponses(purchaseSchema, 'The purchases of the customer'),
});

const getOne = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'A purchase and its steps',
  tags: ['purchases'],
  request: { params: idParam },
  responses: {
    200: json(purchaseSchema, 'The purchase.'),
    404: problemResponse('Unknown id, or not yours (not_found).'),
    ...commonProblems,
  },
});

const eventStream = createRoute({
  method: 'get',
  path: '/{id}/events',
  summary: 'Server-Sent Events of the purchase status',
  description:
    'First a `status` event with the current purchase, then `step` and `status` events as it changes; `data` is the purchase as JSON. Ends once it is terminal.',
  tags: ['purchases'],
  request: { params: idParam },
  responses: {
    200: { description: 'An event stream.', content: { 'text/event-stream': { schema: z.string() } } },
    404: problemResponse('Unknown id, or not yours (not_found).'),
    ...commonProblems,
  },
});

const cancel = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  summary: 'Cancel a purchase in flight',
  description:
    'While its order is not yet placed, the saga stops at its next step and undoes what it did (refund first, then stock and provisioning). ' +
    'Answers 200 with the purchase once it is `canceled` (waiting at most SYNC_TIMEOUT_MS), else 202 with it as it stands. ' +
    'A purchase already `canceled` answers 200 with it; one whose order is placed, or that already ended, answers `not_cancelable` (cancel the order instead). ' +
    'One whose order is being placed answers once it is (`not_cancelable` with its `orderId`) or the purchase failed, waiting at most SYNC_TIMEOUT_MS; still being placed then, `not_cancelable` without an `orderId`.',
  tags: ['purchases'],
  request: { params: idParam },
  responses: {
    200: { ...json(purchaseSchema, 'The canceled purchase.'), headers: location },
    202: {
      ...json(purchaseSchema, 'The cancel is recorded; the saga is still undoing what it did.'),
      headers: location,
    },
    404: problemResponse('Unknown id, or not yours (not_found).'),
    409: problemResponse('The order is placed or being placed, or the purchase already ended (not_cancelable).'),
    ...commonProblems,
  },
});

/** not_cancelable, told from the record the refusal was decided on. */
function refuse(id: string, why: CancelRefusal['why'], current: PurchaseRecord): never {
  const detail =
    why === 'placed'
      ? messages.notCancelable.placed(current.orderId)
      : why === 'placing'
        ? messages.notCancelable.placing()
        : why === 'failing'
          ? messages.notCancelable.failing()
          : messages.notCancelable.finished(current.status);
  throw new AppError('not_cancelable', detail, {
    purchaseId: id,
    ...(current.orderId ? { orderId: current.orderId } : {}),
  });
}

/**
 * POST /v1/purchases/:id/cancel: the state machine decides (atCancelRequest), and the answer says only
 * what is true: canceled, still undoing, or not_cancelable with why.
 */
async function cancelPurchase(c: Context<AuthEnv>, record: PurchaseRecord, deps: PurchaseRoutesDeps) {
  const { stores, events } = deps;
  const id = record.id;
  const decision = atCancelRequest(await stores.purchases.requestCancel(id, PIVOT));
  c.header('location', statusUrl(id));
  const load = () => stores.purchases.get(id);
  switch (decision.do) {
    case 'not-found':
      throw new AppError('not_found', 'No such purchase.');
    case 'refuse':
      return refuse(id, decision.why, (await load()) ?? record);
    case 'pivot-claimed': {
      // The order may not exist yet, and placing it may still fail: answer with what happened, waiting for it
      // as a sync purchase does; past the bound, with the answer that is true either way.
      const now = (await load()) ?? record;
      const first = atClaimedPivot(now);
      if (first.do === 'refuse') return refuse(id, first.why, now);
      const ended = (await events.waitForTerminal(id, deps.syncTimeoutMs, load, false)) ?? now;
      return refuse(id, afterPivotWait(ended).why, ended);
    }
    case 'show':
    case 'wait': {
      // Waiting for its customer's action, it would only see the cancel at its next check: now.
      if (decision.do === 'wait') await deps.wake(id);
      const current =
        (decision.do === 'show' ? await load() : await events.waitForTerminal(id, deps.syncTimeoutMs, load, false)) ??
        record;
      return c.json(purchaseView(current), current.status === 'canceled' ? 200 : 202);
    }
  }
}

export function purchaseRoutes(deps: PurchaseRoutesDeps, purchaseLimit: MiddlewareHandler<AuthEnv>) {
  const { stores, events, metrics } = deps;
  const app = apiApp<AuthEnv>();

  const owned = async (c: Context<AuthEnv>, id: string): Promise<PurchaseRecord> => {
    const record = await stores.purchases.get(id);
    if (!record || record.customerId !== c.get('customer').id) throw new AppError('not_found', 'No such purchase.');
    return record;
  };

  /** 201 with the purchase, the failure as a problem (thrown, for problemOnError), or 202 while it is still running. */
  const answer = (c: Context, id: string, record: PurchaseRecord | undefined) => {
    c.header('location', statusUrl(id));
    if (record?.status === 'failed') {
      const error = record.error ?? { code: 'purchase_failed' as const, detail: 'The purchase failed.' };
      metrics.purchaseOutcomes.inc({ outcome: error.code });
      throw new AppError(error.code, error.detail, { purchaseId: id }, { location: statusUrl(id) });
    }
    if (record && TERMINAL.has(record.status)) {
      metrics.purchaseOutcomes.inc({ outcome: record.status });
      return c.json(purchaseView(record), 201);
    }
    // Waiting for the customer's payment action: 202 at once, with the purchase and its action (contract §4.4).
    if (record?.status === 'requires_action') {
      metrics.purchaseOutcomes.inc({ outcome: record.status });
      return c.json(purchaseView(record), 202);
    }
    metrics.purchaseOutcomes.inc({ outcome: 'accepted' });
    return c.json({ id, status: record?.status ?? 'accepted', statusUrl: statusUrl(id) }, 202);
  };

  app.openapi(buy(purchaseLimit), async (c) => {
    const { 'idempotency-key': idemKey, prefer } = c.req.valid('header');
    const body = c.req.valid('json');
    const customer = c.get('customer');
    const async = deps.mode === 'async' || /respond-async/i.test(prefer ?? '');
    const { id, replay } = await deps.service.submit(customer, body, {
      idempotencyKey: idemKey,
      requestId: c.get('requestId'),
      acknowledge: async,
    });
    if (replay) c.header('idempotent-replayed', 'true');
    if (async) c.header('preference-applied', 'respond-async');
    metrics.purchasesAccepted.inc({ mode: async ? 'async' : 'sync' });

    if (async && !replay) return answer(c, id, undefined);
    const load = () => stores.purchases.get(id);
    const record = async
      ? await load()
      : await events.waitForTerminal(id, deps.syncTimeoutMs, load, !replay, ANSWERABLE);
    return answer(c, id, record);
  });

  app.openapi(list, async (c) => {
    const customerId = c.get('customer').id;
    const records = await deps.lists.page(c, `purchases:${customerId}`, c.req.valid('query'), (after, limit) =>
      stores.purchases.pageByCustomer(customerId, after, limit),
    );
    return c.json(records.map(purchaseView), 200);
  });

  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    return cancelPurchase(c, await owned(c, id), deps);
  });

  app.openapi(getOne, async (c) => c.json(purchaseView(await owned(c, c.req.valid('param').id)), 200));

  app.openapi(eventStream, async (c) => streamPurchase(c, await owned(c, c.req.valid('param').id), deps));

  return app;
}
