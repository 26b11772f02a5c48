import type { Redis } from 'ioredis';
import type { ErrorCode } from '../errors.js';
import type { Keys } from '../keys.js';
import { STEPS, type StepName } from '../queues/contract.js';
import type { LineOutcome } from './inventory-store.js';
import { defineCommands, updatePurchase } from './lua/commands.js';

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

/** The saga record: the source of truth for a purchase; BullMQ is only the transport. */
export class PurchaseStore {
  constructor(
    private readonly redis: Redis,
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
    const applied = await updatePurchase(this.redis, {
      record: this.keys.purchase(id),
      openSet: this.keys.purchasesOpen,
      guard,
      outcomeChannel: this.keys.events,
      progressChannel: this.keys.progress,
      id,
      close: close ? String(this.retentionS) : '',
      step,
      stepStatus,
      fields: flat,
    });
    return applied === 1;
  }
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
