import type { DefaultJobOptions } from 'bullmq';
import type { ErrorCode } from '../errors.js';

/**
 * The one contract the gateway and the workers share: queue names, job names,
 * the saga's steps in order, which job undoes which, and the retry policy.
 */
export const QUEUES = {
  orchestrator: 'orchestrator',
  inventory: 'inventory',
  payment: 'payment',
  provisioning: 'provisioning',
  orders: 'orders',
  notifications: 'notifications',
  compensation: 'compensation',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The saga's forward steps, in execution order. `undo` names the compensation job. */
export const STEPS = [
  { name: 'validation', queue: QUEUES.orchestrator, job: 'validate', failure: 'purchase_failed' },
  { name: 'stock_check', queue: QUEUES.inventory, job: 'reserve', undo: 'release', failure: 'purchase_failed' },
  { name: 'payment', queue: QUEUES.payment, job: 'charge', undo: 'refund', failure: 'payment_failed' },
  { name: 'inventory_update', queue: QUEUES.inventory, job: 'commit', undo: 'restock', failure: 'purchase_failed' },
  { name: 'provisioning', queue: QUEUES.provisioning, job: 'provision', undo: 'deprovision', failure: 'purchase_failed' },
  // The pivot: once the order is placed the purchase completes; nothing after it compensates.
  { name: 'order_placement', queue: QUEUES.orders, job: 'place', failure: 'purchase_failed' },
  { name: 'notification', queue: QUEUES.orchestrator, job: 'complete', failure: 'purchase_failed' },
] as const satisfies readonly StepDef[];

export interface StepDef {
  name: string;
  queue: QueueName;
  job: string;
  undo?: string;
  /** The code a purchase fails with when this step fails for a technical reason. */
  failure: ErrorCode;
}

export type StepName = (typeof STEPS)[number]['name'];
export const SETTLE_JOB = 'settle';
/** The hand-off: one small job the gateway adds; the orchestrator turns it into the saga's flow. */
export const START_JOB = 'start';
export const DELIVER_JOB = 'deliver';

export function stepDef(name: StepName): StepDef {
  const def = STEPS.find((s) => s.name === name);
  if (!def) throw new Error(`unknown step ${name}`);
  return def;
}

export function previousStep(name: StepName): StepName | undefined {
  const i = STEPS.findIndex((s) => s.name === name);
  return i > 0 ? STEPS[i - 1]!.name : undefined;
}

/** Every saga job carries only the purchase id; the purchase record holds the rest. */
export interface SagaJobData {
  purchaseId: string;
}

export interface DeliverJobData {
  notificationId: string;
}

/** Deterministic job ids so a retry or a duplicate add finds the same job. */
export const jobId = (purchaseId: string, part: string) => `${purchaseId}-${part}`;

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

export function stepJobOptions(policy: RetryPolicy): DefaultJobOptions {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: 3_600, count: 5_000 },
    removeOnFail: { age: 7 * 24 * 3_600 },
  };
}
