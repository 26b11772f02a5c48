import type { RedisClient } from '../redis.js';
import { TERMINAL, type PurchaseEvent, type PurchaseRecord, type PurchaseStatus } from '../purchase/record.js';
import { recordOfEvent } from '../stores/purchase-store.js';

type Listener = (event: PurchaseEvent) => void;

/**
 * One Redis subscription per gateway process fans purchase events out to the
 * requests waiting on them, so a waiting request costs no connection and no
 * QueueEvents of its own. Terminal outcomes (all a sync response needs) come on
 * one channel; every step change comes on another, subscribed only while a
 * client streams progress (SSE), so plain traffic does not pay for it.
 */
export class PurchaseEvents {
  private readonly outcomeListeners = new Map<string, Set<Listener>>();
  private readonly progressListeners = new Map<string, Set<Listener>>();
  private progressSubscription: Promise<unknown> | undefined;

  private readonly outcomeChannels: Set<string>;

  private constructor(
    private readonly subscriber: RedisClient,
    outcomes: readonly string[],
    private readonly progress: readonly string[],
    /** Shard channels (hash-tagged, SSUBSCRIBE) rather than plain ones. */
    private readonly sharded: boolean,
  ) {
    this.outcomeChannels = new Set(outcomes);
    const onMessage = (channel: string, message: string) => {
      let event: PurchaseEvent;
      try {
        event = JSON.parse(message) as PurchaseEvent;
      } catch {
        return;
      }
      const listeners = this.outcomeChannels.has(channel) ? this.outcomeListeners : this.progressListeners;
      for (const fn of listeners.get(event.id) ?? []) fn(event);
    };
    subscriber.on(sharded ? 'smessage' : 'message', onMessage);
  }

  /** Listens to every shard's outcome channel (`outcomes`); `progress` channels only while someone streams. */
  static async start(
    subscriber: RedisClient,
    outcomes: readonly string[],
    progress: readonly string[],
  ): Promise<PurchaseEvents> {
    const sharded = outcomes.some((c) => c.includes('{'));
    const events = new PurchaseEvents(subscriber, outcomes, progress, sharded);
    await events.listen([...outcomes]);
    return events;
  }

  private listen(channels: string[]): Promise<unknown> {
    // SSUBSCRIBE takes channels of one slot per call: one call per shard.
    return this.sharded
      ? Promise.all(channels.map((c) => this.subscriber.ssubscribe(c)))
      : this.subscriber.subscribe(...channels);
  }

  /** Calls `fn` with the purchase's terminal event. */
  onOutcome(id: string, fn: Listener): () => void {
    return add(this.outcomeListeners, id, fn);
  }

  /** Calls `fn` with every change of the purchase, terminal included. */
  async onProgress(id: string, fn: Listener): Promise<() => void> {
    const off = add(this.progressListeners, id, fn);
    this.progressSubscription ??= this.listen([...this.progress]);
    await this.progressSubscription;
    return () => {
      off();
      if (this.progressListeners.size === 0 && this.progressSubscription) {
        this.progressSubscription = undefined;
        void (
          this.sharded
            ? Promise.all(this.progress.map((c) => this.subscriber.sunsubscribe(c)))
            : this.subscriber.unsubscribe(...this.progress)
        ).catch(() => {});
      }
    };
  }

  /**
   * Resolves with the record once it is terminal, or with its latest state after
   * `timeoutMs`. Polls once a second too, in case an event was lost in a reconnect.
   * `justCreated` skips the first read: a purchase handed off this instant is not terminal yet.
   * `until`: the statuses that end the wait (a new purchase's request also ends at requires_action).
   */
  async waitForTerminal(
    id: string,
    timeoutMs: number,
    load: () => Promise<PurchaseRecord | undefined>,
    justCreated = false,
    until: ReadonlySet<PurchaseStatus> = TERMINAL,
  ): Promise<PurchaseRecord | undefined> {
    let wake!: () => void;
    let carried: PurchaseRecord | undefined;
    let woken = new Promise<void>((resolve) => (wake = resolve));
    const off = this.onOutcome(id, (event) => {
      carried = recordOfEvent(event);
      wake();
    });
    const deadline = Date.now() + timeoutMs;
    let skip = justCreated;
    try {
      for (;;) {
        // An event's record is used once: an outcome that does not end this wait (requires_action, for a
        // cancel) must not be read again and again, or the loop would spin on a settled promise.
        const record = carried ?? (skip ? undefined : await load());
        carried = undefined;
        skip = false;
        if (record && until.has(record.status)) return record;
        const left = deadline - Date.now();
        if (left <= 0) return record;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 1_000))))]);
        clearTimeout(timer);
        woken = new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      off();
    }
  }

  /**
   * Resolves with `check`'s first truthy answer, re-asked on each outcome event of the purchase
   * (every update of a finished purchase is one) and at least once a second; or with undefined
   * after `timeoutMs`.
   */
  async waitUntil<T>(id: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T | undefined> {
    let wake!: () => void;
    let woken = new Promise<void>((resolve) => (wake = resolve));
    const off = this.onOutcome(id, () => wake());
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const value = await check();
        if (value) return value;
        const left = deadline - Date.now();
        if (left <= 0) return undefined;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 1_000))))]);
        clearTimeout(timer);
        woken = new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      off();
    }
  }

  async close(): Promise<void> {
    this.outcomeListeners.clear();
    this.progressListeners.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}

function add(map: Map<string, Set<Listener>>, id: string, fn: Listener): () => void {
  let set = map.get(id);
  if (!set) map.set(id, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0) map.delete(id);
  };
}
