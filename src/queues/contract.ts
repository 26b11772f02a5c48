import type { DefaultJobOptions } from 'bullmq';
import type { Config } from '../config.js';

/**
 * The transport contract the gateway and the workers share: queue names, job payloads,
 * the retry policy. Which jobs run on which queue follows from the saga list (src/saga/saga.ts):
 * each step's forward job and its undo share a queue, so one provider's concurrency and
 * retries live in one place.
 */
export const QUEUES = {
  orchestrator: 'orchestrator',
  payment: 'payment',
  provisioning: 'provisioning',
  notifications: 'notifications',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Every saga job carries only the purchase id; the purchase record holds the rest. */
export interface SagaJobData {
  purchaseId: string;
}

export interface DeliverJobData {
  notificationId: string;
}
export const DELIVER_JOB = 'deliver';
export const SETTLE_JOB = 'settle';
/** The order-cancel saga: its hand-off from the gateway, and the job that ends it once the money is back. */
export const CANCEL_ORDER_JOB = 'cancel-order';
export const SETTLE_ORDER_JOB = 'settle-order';
export const SWEEP_JOB = 'sweep';
/** An operator's retry of what a purchase has left undone (POST /admin/purchases/:id/retry). */
export const RETRY_JOB = 'retry';

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

export interface RetryPolicies {
  /** Forward steps, and every job the gateway adds (hand-off, order cancel, operator retry). */
  step: RetryPolicy;
  /** Undos, settles and the flow's root: a compensation is retried longer than a step. */
  compensation: RetryPolicy;
}

/** The retry policies, from the configuration: the one definition every role uses. */
export const retryPolicies = (
  config: Pick<Config, 'STEP_ATTEMPTS' | 'STEP_BACKOFF_MS' | 'COMPENSATION_ATTEMPTS'>,
): RetryPolicies => ({
  step: { attempts: config.STEP_ATTEMPTS, backoffMs: config.STEP_BACKOFF_MS },
  compensation: { attempts: config.COMPENSATION_ATTEMPTS, backoffMs: config.STEP_BACKOFF_MS },
});

/** How often a workers process writes its heartbeat on each shard it serves. */
export const HEARTBEAT_MS = 2_000;
/** A workers process is live while its heartbeat is younger than this; the gateway hands a shard no purchase otherwise. */
export const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_MS;

export function stepJobOptions(policy: RetryPolicy): DefaultJobOptions {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: 3_600, count: 5_000 },
    removeOnFail: { age: 7 * 24 * 3_600 },
  };
}
