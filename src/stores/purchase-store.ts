import type { Redis } from 'ioredis';
import { luaScript } from '../lua.js';
import type { ErrorCode } from '../errors.js';
import type { Keys } from '../keys.js';
import { STEPS, type StepName } from '../queues/contract.js';
import type { LineOutcome } from './inventory-store.js';
import { pageIndex, type IndexPage, type IndexPosition } from './keyset.js';

export type PurchaseStatus = 'accepted' | 'processing' | 'completed' | 'partially_fulfilled' | 'failed';
export type StepStatus = 'pending' | 'completed' | 'failed' | 'compensated' | 'skipped';
/** running → compensating → done, or running → done; only `done` has a terminal status. */
export type Phase = 'running' | 'compensating' | 'done';
export type OutOfStockPolicy = 'remove' | 'backorder';

export const TERMINAL: ReadonlySet<PurchaseStatus> = new Set(['completed', 'partially_fulfilled', 'failed']);

export interface RequestedItem {
  productId: string;
  quantity: number;
  customization?: Record<string, unknown>;
}

export interface PurchaseRequest {
  items: RequestedItem[];
  outOfStock: OutOfStockPolicy;
  paymentToken: string;
  roles: string[];
}

export interface PlannedLine {
  productId: string;
  quantity: number;
  unitPrice: number;
  customization: Record<string, unknown>;
  /** Added by a rule (`addItem`): shipped, never charged. */
  free: boolean;
  dependencies: string[];
  quotaPerCustomer?: number;
  integrationUrl?: string;
}

export interface Plan {
  lines: PlannedLine[];
  currency: string;
  discountPercent: number;
  appliedRules: string[];
}

export interface PaymentInfo {
  status: 'none' | 'captured' | 'refunded' | 'declined';
  amount: number;
  currency: string;
  chargeId?: string;
  refundId?: string;
}

export interface PurchaseError {
  code: ErrorCode;
  detail: string;
  step?: StepName;
}

export interface PurchaseRecord {
  id: string;
  customerId: string;
  status: PurchaseStatus;
  phase: Phase;
  createdAt: string;
  updatedAt: string;
  request: PurchaseRequest;
  plan?: Plan;
  /** Per plan line: fulfilled now or out of stock (removed/backordered by policy). */
  allocation?: LineOutcome[];
  payment: PaymentInfo;
  orderId?: string;
  error?: PurchaseError;
  steps: Record<StepName, StepStatus>;
  /** Set when a compensation could not complete: an operator must look. */
  review?: string;
  /** The gateway request that created it, for log correlation. */
  requestId?: string;
}

export interface PurchaseEvent {
  id: string;
  status: PurchaseStatus;
  step?: StepName;
  stepStatus?: StepStatus;
  /** On terminal events: the record's hash as field/value pairs (see recordOfEvent). */
  record?: string[];
}

/** The record a terminal event carries, if any. */
export function recordOfEvent(event: PurchaseEvent): PurchaseRecord | undefined {
  if (!event.record) return undefined;
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < event.record.length; i += 2) hash[event.record[i]!] = event.record[i + 1]!;
  return hash.id ? decode(hash) : undefined;
}

const JSON_FIELDS = ['request', 'plan', 'allocation', 'payment', 'error'] as const;
type Fields = Partial<Omit<PurchaseRecord, 'id' | 'steps'>>;

/*
 * Guarded update: applies the fields only if the record exists and its phase
 * matches the guard ('' any, 'x' equal, '!x' not equal), then publishes the event
 * on the progress channel, and on the outcome channel when the status is terminal.
 * KEYS: record, open-set   ARGV: guard, outcome channel, progress channel, id, close ('' or the record's
 * retention in seconds, 0 = keep), step, step-status, field/value pairs…
 */
const UPDATE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local g = ARGV[1]
if g ~= '' then
  local phase = redis.call('HGET', KEYS[1], 'phase')
  if string.sub(g, 1, 1) == '!' then
    if phase == string.sub(g, 2) then return 0 end
  elseif phase ~= g then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
if ARGV[5] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
end
local status = redis.call('HGET', KEYS[1], 'status')
local event = {id = ARGV[4], status = status}
if ARGV[6] ~= '' then event.step = ARGV[6]; event.stepStatus = ARGV[7] end
local terminal = status == 'completed' or status == 'partially_fulfilled' or status == 'failed'
-- A terminal event carries the record, so a waiting request answers without reading it back.
if terminal then event.record = redis.call('HGETALL', KEYS[1]) end
local message = cjson.encode(event)
redis.call('PUBLISH', ARGV[3], message)
if terminal then redis.call('PUBLISH', ARGV[2], message) end
return 1
`);

/** The saga record: the source of truth for a purchase; BullMQ is only the transport. */
export class PurchaseStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** How long a finished purchase's record is kept (0 = forever); its order stays in the OMS. */
    private readonly retentionS = 0,
  ) {}

  async get(id: string): Promise<PurchaseRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.purchase(id));
    return hash.id ? decode(hash) : undefined;
  }

  /** A page of the customer's purchases, newest first (keyset); records that expired are passed over. */
  pageByCustomer(customerId: string, after: IndexPosition | undefined, limit: number): Promise<IndexPage<PurchaseRecord>> {
    return pageIndex(this.redis, this.keys.purchasesByCustomer(customerId), after, limit, async (ids) => {
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(this.keys.purchase(id));
      const replies = (await pipe.exec()) ?? [];
      return replies.map(([, hash]) => ((hash as Record<string, string> | null)?.id ? decode(hash as Record<string, string>) : undefined));
    });
  }

  /** Ids of purchases not yet terminal, oldest first, created before `before`. */
  async openIds(before = Date.now(), limit = 100): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.purchasesOpen, 0, before, 'LIMIT', 0, limit);
  }

  /** Drops a finished or vanished purchase from the open index. */
  async forgetOpen(id: string): Promise<void> {
    await this.redis.zrem(this.keys.purchasesOpen, id);
  }

  /** Records a forward step's success while the saga is running. */
  completeStep(id: string, step: StepName, fields: Fields = {}): Promise<boolean> {
    return this.update(id, 'running', { ...fields, status: 'processing' }, { [step]: 'completed' });
  }

  /** Marks `step` failed and starts compensation; false if the saga was already failing. */
  failStep(id: string, step: StepName, error: PurchaseError, fields: Fields = {}): Promise<boolean> {
    return this.update(id, 'running', { ...fields, phase: 'compensating', error }, { [step]: 'failed' });
  }

  setStep(id: string, step: StepName, status: StepStatus, guard: Phase | '' = '', fields: Fields = {}): Promise<boolean> {
    return this.update(id, guard, fields, { [step]: status });
  }

  /** Marks steps that will never run as skipped, once the saga is compensating. */
  skip(id: string, steps: StepName[]): Promise<boolean> {
    return this.update(id, 'compensating', {}, Object.fromEntries(steps.map((s) => [s, 'skipped'])));
  }

  /** Writes fields whatever the phase (compensation bookkeeping). */
  patch(id: string, fields: Fields): Promise<boolean> {
    return this.update(id, '', fields, {});
  }

  /** Moves the purchase to a terminal status, once; `completedStep` is recorded with it. */
  finish(id: string, status: PurchaseStatus, fields: Fields = {}, completedStep?: StepName): Promise<boolean> {
    return this.update(id, '!done', { ...fields, phase: 'done', status }, completedStep ? { [completedStep]: 'completed' } : {}, true);
  }

  private async update(
    id: string,
    guard: string,
    fields: Fields,
    steps: Partial<Record<StepName, StepStatus>>,
    close = false,
  ): Promise<boolean> {
    const now = new Date().toISOString();
    const flat = encode({ ...fields, updatedAt: now });
    for (const [step, status] of Object.entries(steps)) flat[`step:${step}`] = status as string;
    const [step = '', stepStatus = ''] = Object.entries(steps)[0] ?? [];
    const args = fieldArgs(flat, [guard, this.keys.events, this.keys.progress, id, close ? String(this.retentionS) : '', step, stepStatus]);
    const applied = (await UPDATE(this.redis, [this.keys.purchase(id), this.keys.purchasesOpen], args)) as number;
    return applied === 1;
  }
}

/** `hash`'s field/value pairs appended to `args`: a loop, as Array#flat costs ~40× more (8 µs a record). */
export function fieldArgs(hash: Record<string, string>, args: (string | number)[]): (string | number)[] {
  for (const field in hash) args.push(field, hash[field]!);
  return args;
}

/** A record (or some of its fields) as the hash fields it is stored in. */
export function encode(fields: Fields & { id?: string; steps?: PurchaseRecord['steps'] }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (key === 'steps') {
      for (const [step, status] of Object.entries(value as Record<string, string>)) out[`step:${step}`] = status;
    } else if ((JSON_FIELDS as readonly string[]).includes(key)) {
      out[key] = JSON.stringify(value);
    } else {
      out[key] = String(value);
    }
  }
  return out;
}

function decode(hash: Record<string, string>): PurchaseRecord {
  const steps = Object.fromEntries(STEPS.map((s) => [s.name, (hash[`step:${s.name}`] ?? 'pending') as StepStatus]));
  const parsed: Record<string, unknown> = {};
  for (const field of JSON_FIELDS) if (hash[field]) parsed[field] = JSON.parse(hash[field]);
  return {
    id: hash.id!,
    customerId: hash.customerId!,
    status: hash.status as PurchaseStatus,
    phase: hash.phase as Phase,
    createdAt: hash.createdAt!,
    updatedAt: hash.updatedAt!,
    orderId: hash.orderId,
    review: hash.review,
    requestId: hash.requestId,
    ...(parsed as Pick<PurchaseRecord, 'request' | 'payment'>),
    steps: steps as PurchaseRecord['steps'],
  };
}
