import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';
import { defineCommands, updatePurchase } from './lua/commands.js';
import type {
  Phase,
  PurchaseError,
  PurchaseEvent,
  PurchaseRecord,
  PurchaseStatus,
  RecordFields,
  ReviewResolution,
  StepStatus,
  UndoState,
} from '../purchase/record.js';
import { inReview } from '../purchase/record.js';
import { pageIndex, pageIndexes, type IndexPage, type IndexPosition } from './keyset.js';

/** The record a terminal event carries, if any. */
export function recordOfEvent(event: PurchaseEvent): PurchaseRecord | undefined {
  if (!event.record) return undefined;
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < event.record.length; i += 2) hash[event.record[i]!] = event.record[i + 1]!;
  return hash.id ? decode(hash) : undefined;
}

type Fields = RecordFields;

/** A cancel request's outcome (cancel-or-pivot-2, mode cancel). */
export type CancelOutcome =
  'requested' | 'already-requested' | 'canceled' | 'placed' | 'finished' | 'failing' | 'missing';
/** The pivot claim's outcome (mode pivot). */
export type PivotClaim = 'claimed' | 'canceled' | 'stopped' | 'missing';
/** An order cancel request's outcome (mode cancel-order). */
export type OrderCancelOutcome = 'requested' | 'already-requested' | 'not-completed' | 'missing';

/**
 * How each field of a record is stored in its hash. The compiler insists every field of
 * PurchaseRecord has an entry, so a field a step starts writing cannot be dropped on read.
 */
const CODECS = {
  id: 'text',
  customerId: 'text',
  status: 'text',
  phase: 'text',
  createdAt: 'text',
  updatedAt: 'text',
  request: 'json',
  plan: 'json',
  allocation: 'json',
  payment: 'json',
  orderId: 'text',
  error: 'json',
  review: 'text',
  reviewResolution: 'json',
  cancelRequestedAt: 'text',
  pivotClaimedAt: 'text',
  orderCancelRequestedAt: 'text',
  orderCanceledAt: 'text',
  requestId: 'text',
  waiting: 'json',
  steps: 'per-step',
  undos: 'per-step',
  stepTimes: 'per-step',
} as const satisfies Record<keyof PurchaseRecord, 'text' | 'json' | 'per-step'>;
/** Per-step maps are one hash field per step (`step:payment`, `undo:payment`), so concurrent undos never overwrite each other. */
const PER_STEP = { steps: 'step:', undos: 'undo:', stepTimes: 'at:' } as const;

/** The saga record: the source of truth for a purchase; BullMQ is only the transport. */
export class PurchaseStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long a finished purchase's record is kept (0 = forever); its order stays in the OMS. */
    private readonly retentionS = 0,
  ) {
    defineCommands(redis);
  }

  async get(id: string): Promise<PurchaseRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.purchase(id));
    return hash.id ? decode(hash) : undefined;
  }

  /** A page of the customer's purchases, newest first (keyset); records that expired are passed over. */
  pageByCustomer(
    customerId: string,
    after: IndexPosition | undefined,
    limit: number,
  ): Promise<IndexPage<PurchaseRecord>> {
    return pageIndex(this.redis, this.keys.purchasesByCustomer(customerId), after, limit, async (ids) => {
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(this.keys.purchase(id));
      const replies = (await pipe.exec()) ?? [];
      return replies.map(([, hash]) =>
        (hash as Record<string, string> | null)?.id ? decode(hash as Record<string, string>) : undefined,
      );
    });
  }

  /** A page of the purchases flagged for review and not resolved, newest flag first (keyset). */
  pageInReview(after: IndexPosition | undefined, limit: number): Promise<IndexPage<PurchaseRecord>> {
    const indexes = this.keys.allShards.map((s) => this.keys.purchasesInReview(s));
    return pageIndexes(this.redis, indexes, after, limit, async (ids) => {
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(this.keys.purchase(id));
      const replies = (await pipe.exec()) ?? [];
      return replies.map(([, hash]) => {
        const h = hash as Record<string, string> | null;
        const r = h?.id ? decode(h) : undefined;
        return r && inReview(r) ? r : undefined;
      });
    });
  }

  /** How many purchases wait for an operator. */
  async inReviewCount(): Promise<number> {
    const counts = await Promise.all(this.keys.allShards.map((s) => this.redis.zcard(this.keys.purchasesInReview(s))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Marks the review resolved (once): by a retry that left nothing undone, or by an operator with a note. */
  resolveReview(id: string, resolution: ReviewResolution): Promise<boolean> {
    return this.update(id, '', { reviewResolution: resolution }, {});
  }

  /** An operator's retry: failed undos are pending again and the purchase open (watched) until they end. */
  async reopenUndos(id: string, steps: string[]): Promise<boolean> {
    const at = new Date().toISOString();
    const pending = Object.fromEntries(
      steps.map((s) => [s, { status: 'pending', attempts: 0, at } satisfies UndoState]),
    );
    await this.redis.zadd(this.keys.purchasesOpen(this.keys.shardOf(id)), Date.now(), id);
    return this.update(id, '', {}, {}, 'no', pending);
  }

  /** Ids of purchases not yet terminal, oldest first per shard, created before `before`, on `shards` (default all). */
  async openIds(before = Date.now(), limit = 100, shards: readonly number[] = this.keys.allShards): Promise<string[]> {
    const each = await Promise.all(
      shards.map((s) => this.redis.zrangebyscore(this.keys.purchasesOpen(s), 0, before, 'LIMIT', 0, limit)),
    );
    return each.flat();
  }

  /** Drops a finished or vanished purchase from the open index. */
  async forgetOpen(id: string): Promise<void> {
    await this.redis.zrem(this.keys.purchasesOpen(this.keys.shardOf(id)), id);
  }

  /** Records a forward step's success while the saga is running. */
  async completeStep(id: string, step: string, fields: Fields = {}): Promise<boolean> {
    return (await this.completeStepSeeingCancel(id, step, fields)).applied;
  }

  /**
   * completeStep, also saying whether the customer asked to cancel meanwhile (the same write
   * reports it): the step runner stops the saga at the next step boundary without a read.
   */
  async completeStepSeeingCancel(
    id: string,
    step: string,
    fields: Fields = {},
  ): Promise<{ applied: boolean; cancelRequested: boolean }> {
    const code = await this.write(id, 'running', { ...fields, status: 'processing' }, { [step]: 'completed' });
    return { applied: code >= 1, cancelRequested: code === 2 };
  }

  /** The customer's cancel stops the running saga at `step` (skipped): compensation follows. */
  cancelAt(id: string, step: string, waiting = false): Promise<boolean> {
    // A step canceled while it waits keeps `waiting`: what it began (a hold) is undone with the rest.
    return this.update(id, 'running', { phase: 'compensating' }, waiting ? {} : { [step]: 'skipped' });
  }

  /**
   * The cancel/pivot race, decided in one script (cancel-or-pivot-2): a customer's cancel request
   * and the saga's claim of the pivot (order placement) read and write the same record
   * atomically, so exactly one of them wins.
   */
  requestCancel(id: string, pivotStep: string): Promise<CancelOutcome> {
    return this.cancelOrPivot(id, 'cancel', pivotStep) as Promise<CancelOutcome>;
  }

  /** The saga's side of the race: claimed (go on and place the order), canceled, or stopped. */
  claimPivot(id: string, pivotStep: string): Promise<PivotClaim> {
    return this.cancelOrPivot(id, 'pivot', pivotStep) as Promise<PivotClaim>;
  }

  /**
   * Starts the order-cancel saga on a completed purchase, once: records the request, each
   * planned undo `pending` (an undo that already has a state keeps it) and puts the purchase
   * back in the open index, so the watchdog looks after it until its undos end.
   */
  requestOrderCancel(id: string, undos: string[]): Promise<OrderCancelOutcome> {
    return this.cancelOrPivot(id, 'cancel-order', '', undos) as Promise<OrderCancelOutcome>;
  }

  private async cancelOrPivot(
    id: string,
    mode: 'cancel' | 'pivot' | 'cancel-order',
    pivotStep: string,
    undos: string[] = [],
  ): Promise<string> {
    const at = new Date().toISOString();
    const pending: string[] = [];
    for (const step of undos)
      pending.push(PER_STEP.undos + step, JSON.stringify({ status: 'pending', attempts: 0, at } satisfies UndoState));
    return this.redis.cancelOrPivot(
      this.keys.purchase(id),
      this.keys.purchasesOpen(this.keys.shardOf(id)),
      mode,
      at,
      Date.now(),
      pivotStep ? PER_STEP.steps + pivotStep : '',
      this.keys.progressChannel(this.keys.shardOf(id)),
      id,
      ...pending,
    );
  }

  /** Marks `step` failed and starts compensation; false if the saga was already failing. */
  failStep(id: string, step: string, error: PurchaseError, fields: Fields = {}): Promise<boolean> {
    return this.update(id, 'running', { ...fields, phase: 'compensating', error }, { [step]: 'failed' });
  }

  /** A running step parks until the outside world answers or `until` (its fields, such as the payment's action, with it). */
  waitAt(id: string, step: string, until: string, fields: Fields = {}): Promise<boolean> {
    return this.update(id, 'running', { ...fields, waiting: { step, until } }, { [step]: 'waiting' });
  }

  setStep(id: string, step: string, status: StepStatus, guard: Phase | '' = '', fields: Fields = {}): Promise<boolean> {
    return this.update(id, guard, fields, { [step]: status });
  }

  /** Once compensating: steps that will never run are skipped, and each planned undo is pending. */
  planCompensation(id: string, skip: string[], undos: string[]): Promise<boolean> {
    const at = new Date().toISOString();
    const pending = Object.fromEntries(
      undos.map((s) => [s, { status: 'pending', attempts: 0, at } satisfies UndoState]),
    );
    return this.update(id, 'compensating', {}, Object.fromEntries(skip.map((s) => [s, 'skipped'])), 'no', pending);
  }

  /**
   * Records an undo attempt's outcome whatever the phase (an outside undo outlives the purchase).
   * An undo that ended closes the purchase if it was the last thing the purchase waited for.
   */
  recordUndo(
    id: string,
    step: string,
    undo: UndoState,
    opts: { stepStatus?: StepStatus; review?: string; resolution?: ReviewResolution } = {},
  ): Promise<boolean> {
    const ended = undo.status === 'done' || undo.status === 'failed';
    return this.update(
      id,
      '',
      {
        ...(opts.review ? { review: opts.review } : {}),
        ...(opts.resolution ? { reviewResolution: opts.resolution } : {}),
      },
      opts.stepStatus ? { [step]: opts.stepStatus } : {},
      ended ? 'if-settled' : 'no',
      { [step]: undo },
    );
  }

  /** Writes fields whatever the phase (compensation bookkeeping). */
  patch(id: string, fields: Fields): Promise<boolean> {
    return this.update(id, '', fields, {});
  }

  /**
   * Moves the purchase to a terminal status, once; `completedStep` is recorded with it.
   * It leaves the open index and its retention starts once it is settled: a purchase whose
   * outside undos still run stays open (and watched) until the last of them ends.
   */
  finish(id: string, status: PurchaseStatus, fields: Fields = {}, completedStep?: string): Promise<boolean> {
    return this.update(
      id,
      '!done',
      { ...fields, phase: 'done', status },
      completedStep ? { [completedStep]: 'completed' } : {},
      'if-settled',
    );
  }

  /** The order-cancel saga ended its money part: the order is canceled (closes the purchase once settled). */
  orderCanceled(id: string, review?: string): Promise<boolean> {
    return this.update(
      id,
      'done',
      { orderCanceledAt: new Date().toISOString(), ...(review ? { review } : {}) },
      {},
      'if-settled',
    );
  }

  /** Closes an ended purchase left open for its outside undos. */
  close(id: string): Promise<boolean> {
    return this.update(id, 'done', {}, {}, 'if-settled');
  }

  private async update(
    id: string,
    guard: string,
    fields: Fields,
    steps: Record<string, StepStatus>,
    close: 'no' | 'if-settled' = 'no',
    undos: Record<string, UndoState> = {},
  ): Promise<boolean> {
    return (await this.write(id, guard, fields, steps, close, undos)) >= 1;
  }

  /** update-purchase-3: -1 no record, 0 guard failed, 1 applied, 2 applied and a cancel is requested. */
  private async write(
    id: string,
    guard: string,
    fields: Fields,
    steps: Record<string, StepStatus>,
    close: 'no' | 'if-settled' = 'no',
    undos: Record<string, UndoState> = {},
  ): Promise<number> {
    const now = new Date().toISOString();
    const stepTimes: Record<string, string> = {};
    for (const step in steps) stepTimes[step] = now;
    const flat = encode({ ...fields, updatedAt: now, steps, undos, stepTimes });
    const [step = '', stepStatus = ''] = Object.entries(steps)[0] ?? [];
    const applied = await updatePurchase(this.redis, {
      record: this.keys.purchase(id),
      openSet: this.keys.purchasesOpen(this.keys.shardOf(id)),
      reviewSet: this.keys.purchasesInReview(this.keys.shardOf(id)),
      guard,
      outcomeChannel: this.keys.outcomeChannel(this.keys.shardOf(id)),
      progressChannel: this.keys.progressChannel(this.keys.shardOf(id)),
      id,
      close: close === 'if-settled' ? `?${this.retentionS}` : '',
      step,
      stepStatus,
      fields: flat,
    });
    return applied;
  }
}

/** A record (or some of its fields) as the hash fields it is stored in. */
export function encode(fields: Partial<PurchaseRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const codec = CODECS[key as keyof PurchaseRecord];
    if (codec === 'per-step') {
      const prefix = PER_STEP[key as keyof typeof PER_STEP];
      for (const [step, v] of Object.entries(value as Record<string, unknown>))
        out[prefix + step] = typeof v === 'string' ? v : JSON.stringify(v);
    } else {
      out[key] = codec === 'json' ? JSON.stringify(value) : String(value);
    }
  }
  return out;
}

/** The record a hash holds, every field by its codec. */
export function decode(hash: Record<string, string>): PurchaseRecord {
  const record: Record<string, unknown> = { steps: {}, undos: {}, stepTimes: {} };
  for (const [field, raw] of Object.entries(hash)) {
    if (field.startsWith(PER_STEP.steps))
      (record.steps as Record<string, string>)[field.slice(PER_STEP.steps.length)] = raw;
    else if (field.startsWith(PER_STEP.stepTimes))
      (record.stepTimes as Record<string, string>)[field.slice(PER_STEP.stepTimes.length)] = raw;
    else if (field.startsWith(PER_STEP.undos))
      (record.undos as Record<string, unknown>)[field.slice(PER_STEP.undos.length)] = JSON.parse(raw);
    else if (field in CODECS) record[field] = CODECS[field as keyof typeof CODECS] === 'json' ? JSON.parse(raw) : raw;
  }
  return record as unknown as PurchaseRecord;
}
