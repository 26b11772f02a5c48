import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isSettled, type PurchaseRecord } from '../purchase/record.js';
import type { Stores } from '../stores/domain-stores.js';
import type { PurchaseEvents } from './purchase-events.js';
import { purchaseView } from './views.js';

const MAX_STREAM_MS = 10 * 60_000;
const HEARTBEAT_MS = 15_000;

export interface PurchaseStreamDeps {
  stores: Stores;
  events: PurchaseEvents;
  /** Aborted at shutdown: open event streams end so the server can close. */
  shutdown: AbortSignal;
}

/**
 * GET /v1/purchases/:id/events: the purchase as it stands (`status`), then a `step` or `status` event
 * with the purchase at each change, until it is settled (terminal, no outside undo still running).
 */
export function streamPurchase(c: Context, first: PurchaseRecord, deps: PurchaseStreamDeps) {
  const { stores, events } = deps;
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
      chain = chain
        .then(async () => {
          await stream.write(': keep-alive\n\n');
          const record = await stores.purchases.get(first.id);
          if (record && isSettled(record)) {
            await send(record, 'status');
            done();
          }
        })
        .catch(() => done());
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
}
