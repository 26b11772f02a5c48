import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import { isSettled, TERMINAL, type PurchaseRecord } from '../../purchase/record.js';
import type { AuthEnv } from '../middleware/auth.js';
import { problem } from '../middleware/problem.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { PurchaseEvents } from '../purchase-events.js';
import type { PurchaseService } from '../purchase-service.js';
import { describeIssues, purchaseBody } from '../schemas.js';
import { purchaseView, statusUrl } from '../views.js';

export interface PurchaseRoutesDeps {
  stores: Stores;
  service: PurchaseService;
  events: PurchaseEvents;
  metrics: GatewayMetrics;
  mode: 'sync' | 'async';
  syncTimeoutMs: number;
  /** Aborted at shutdown: open event streams end so the server can close. */
  shutdown: AbortSignal;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const MAX_STREAM_MS = 10 * 60_000;
const HEARTBEAT_MS = 15_000;

async function readBody(c: Context) {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new AppError('validation_error', 'The body must be valid JSON.');
  }
  const parsed = purchaseBody.safeParse(raw);
  if (!parsed.success) throw new AppError('validation_error', describeIssues(parsed.error));
  return parsed.data;
}

export function purchaseRoutes(deps: PurchaseRoutesDeps, purchaseLimit: MiddlewareHandler<AuthEnv>) {
  const { stores, events, metrics } = deps;
  const app = new Hono<AuthEnv>();

  const owned = async (c: Context<AuthEnv>): Promise<PurchaseRecord> => {
    const record = await stores.purchases.get(c.req.param('id') ?? '');
    if (!record || record.customerId !== c.get('customer').id) throw new AppError('not_found', 'No such purchase.');
    return record;
  };

  /** 201 with the purchase, the failure as a problem, or 202 while it is still running. */
  const answer = (c: Context, id: string, record: PurchaseRecord | undefined) => {
    c.header('location', statusUrl(id));
    if (record?.status === 'failed') {
      const error = record.error ?? { code: 'purchase_failed' as const, detail: 'The purchase failed.' };
      metrics.purchaseOutcomes.inc({ outcome: error.code });
      return problem(c, new AppError(error.code, error.detail, { purchaseId: id }));
    }
    if (record && TERMINAL.has(record.status)) {
      metrics.purchaseOutcomes.inc({ outcome: record.status });
      return c.json(purchaseView(record), 201);
    }
    metrics.purchaseOutcomes.inc({ outcome: 'accepted' });
    return c.json({ id, status: record?.status ?? 'accepted', statusUrl: statusUrl(id) }, 202);
  };

  app.post('/', purchaseLimit, async (c) => {
    const idemKey = c.req.header('idempotency-key');
    if (idemKey !== undefined && !IDEMPOTENCY_KEY.test(idemKey)) {
      throw new AppError('validation_error', 'Idempotency-Key must be 1–255 visible ASCII characters.');
    }
    const body = await readBody(c);
    const customer = c.get('customer');
    const async = deps.mode === 'async' || /respond-async/i.test(c.req.header('prefer') ?? '');
    const { id, replay } = await deps.service.submit(customer, body, { idempotencyKey: idemKey, requestId: c.get('requestId'), acknowledge: async });
    if (replay) c.header('idempotent-replayed', 'true');
    if (async) c.header('preference-applied', 'respond-async');
    metrics.purchasesAccepted.inc({ mode: async ? 'async' : 'sync' });

    if (async && !replay) return answer(c, id, undefined);
    const load = () => stores.purchases.get(id);
    const record = async ? await load() : await events.waitForTerminal(id, deps.syncTimeoutMs, load, !replay);
    return answer(c, id, record);
  });

  app.get('/:id', async (c) => c.json(purchaseView(await owned(c))));

  app.get('/:id/events', async (c) => {
    const first = await owned(c);
    return streamSSE(c, async (stream) => {
      let seq = 0;
      const send = async (record: PurchaseRecord, event: string) =>
        stream.writeSSE({ id: String(seq++), event, data: JSON.stringify(purchaseView(record)) });
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      stream.onAbort(() => done());
      // A stream lives at most this long, and ends at shutdown; a client reconnects with the status URL.
      const cap = setTimeout(() => done(), MAX_STREAM_MS);
      const onShutdown = () => done();
      deps.shutdown.addEventListener('abort', onShutdown);
      // Keep-alive for proxies; and a re-read, in case the last event was lost in a Redis reconnect.
      // The stream ends once the purchase is settled: terminal, and no outside undo still running.
      const beat = setInterval(() => {
        chain = chain.then(async () => {
          await stream.write(': keep-alive\n\n');
          const record = await stores.purchases.get(first.id);
          if (record && isSettled(record)) {
            await send(record, 'status');
            done();
          }
        }).catch(() => done());
      }, HEARTBEAT_MS);
      // Events are serialised behind the first (current state) write, so the stream never interleaves writes.
      let ready!: () => void;
      let chain = new Promise<void>((resolve) => (ready = resolve));
      const off = await events.onProgress(first.id, (e) => {
        chain = chain.then(async () => {
          const record = await stores.purchases.get(first.id);
          if (!record) return;
          await send(record, e.step ? 'step' : 'status');
          if (isSettled(record)) done();
        });
      });
      try {
        const current = (await stores.purchases.get(first.id)) ?? first;
        await send(current, 'status');
        ready();
        if (!isSettled(current)) await finished;
        await chain;
      } finally {
        clearTimeout(cap);
        clearInterval(beat);
        deps.shutdown.removeEventListener('abort', onShutdown);
        off();
      }
    });
  });

  return app;
}
