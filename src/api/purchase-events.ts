import type { Redis } from 'ioredis';
import { TERMINAL, type PurchaseEvent, type PurchaseRecord } from '../stores/purchase-store.js';

type Listener = (event: PurchaseEvent) => void;

/**
 * One Redis subscription per gateway process fans purchase events out to the
 * requests waiting on them (sync responses, SSE), so a waiting request costs no
 * connection and no QueueEvents of its own.
 */
export class PurchaseEvents {
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(private readonly subscriber: Redis) {
    subscriber.on('message', (_channel: string, message: string) => {
      let event: PurchaseEvent;
      try {
        event = JSON.parse(message) as PurchaseEvent;
      } catch {
        return;
      }
      for (const fn of this.listeners.get(event.id) ?? []) fn(event);
    });
  }

  static async start(subscriber: Redis, channel: string): Promise<PurchaseEvents> {
    const events = new PurchaseEvents(subscriber);
    await subscriber.subscribe(channel);
    return events;
  }

  on(id: string, fn: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  /**
   * Resolves with the record once it is terminal, or with its latest state after
   * `timeoutMs`. Polls once a second too, in case an event was lost in a reconnect.
   * `justCreated` skips the first read: a purchase handed off this instant is not terminal yet.
   */
  async waitForTerminal(id: string, timeoutMs: number, load: () => Promise<PurchaseRecord | undefined>, justCreated = false): Promise<PurchaseRecord | undefined> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const off = this.on(id, (e) => {
      if (TERMINAL.has(e.status)) wake();
    });
    const deadline = Date.now() + timeoutMs;
    let skip = justCreated;
    try {
      for (;;) {
        const record = skip ? undefined : await load();
        skip = false;
        if (record && TERMINAL.has(record.status)) return record;
        const left = deadline - Date.now();
        if (left <= 0) return record;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 1_000))))]);
        clearTimeout(timer);
      }
    } finally {
      off();
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
