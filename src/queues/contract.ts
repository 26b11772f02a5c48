import type { DefaultJobOptions } from 'bullmq';
import type { ErrorCode } from '../errors.js';

/**
 * The one contract the gateway and the workers share: queue names, job names,
 * the saga's steps in order, which job undoes which, and the retry policy.
 */
export const QUEUES = {
  orchestrator: 'orchestrator',
  payment: 'payment',
  provisioning: 'provisioning',
  notifications: 'notifications',
  compensation: 'compensation',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/**
 * The jobs of a purchase, in order. A stage runs one or more saga steps, each still
 * recorded, retried and undone on its own. Steps share a job where a queue hop would
 * buy nothing: a hop costs more than a local step (bench/README), while the steps that
 * call an outside system (payment, provisioning and the OMS) keep a queue of their own
 * so their concurrency and retries can be tuned apart.
 * `prepare` is the gateway's hand-off; it adds the rest as a flow whose root is `complete`.
 */
export const STAGES = [
  { name: 'prepare', queue: QUEUES.orchestrator, job: 'start' },
  { name: 'charge', queue: QUEUES.payment, job: 'charge' },
  { name: 'fulfil', queue: QUEUES.provisioning, job: 'fulfil' },
  { name: 'complete', queue: QUEUES.orchestrator, job: 'complete' },
] as const satisfies readonly StageDef[];

export interface StageDef {
  name: string;
  queue: QueueName;
  job: string;
}
export type StageName = (typeof STAGES)[number]['name'];

/** The saga's forward steps, in execution order, each in its stage. `undo` names the compensation job. */
export const STEPS = [
  { name: 'validation', stage: 'prepare', failure: 'purchase_failed' },
  { name: 'stock_check', stage: 'prepare', undo: 'release', failure: 'purchase_failed' },
  { name: 'payment', stage: 'charge', undo: 'refund', failure: 'payment_failed' },
  { name: 'inventory_update', stage: 'charge', undo: 'restock', failure: 'purchase_failed' },
  { name: 'provisioning', stage: 'fulfil', undo: 'deprovision', failure: 'purchase_failed' },
  // The pivot: once the order is placed the purchase completes; nothing after it compensates.
  { name: 'order_placement', stage: 'fulfil', failure: 'purchase_failed' },
  { name: 'notification', stage: 'complete', failure: 'purchase_failed' },
] as const satisfies readonly StepDef[];

export interface StepDef {
  name: string;
  stage: StageName;
  undo?: string;
  /** The code a purchase fails with when this step fails for a technical reason. */
  failure: ErrorCode;
}

export type StepName = (typeof STEPS)[number]['name'];
export const SETTLE_JOB = 'settle';
/** The hand-off: the one job the gateway adds. */
export const START_STAGE = STAGES[0];
/** The flow's root: it always runs, and starts compensation when a step failed. */
export const ROOT_STAGE = STAGES[STAGES.length - 1]!;
export const DELIVER_JOB = 'deliver';

export function stepDef(name: StepName): StepDef {
  const def = STEPS.find((s) => s.name === name);
  if (!def) throw new Error(`unknown step ${name}`);
  return def;
}

export function stageDef(name: StageName): StageDef {
  return STAGES.find((s) => s.name === name)!;
}

export const stepsOf = (stage: StageName): StepName[] => STEPS.filter((s) => s.stage === stage).map((s) => s.name);

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
