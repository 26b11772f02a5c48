import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { valueWithin } from '../within.js';
import { createPartnerMetrics } from './partner-metrics.js';

/** The workers' Prometheus metrics: steps, compensations, outcomes, queues, watchdog, partners. */
export function createWorkerMetrics(queues: Queue[]) {
  const registry = new Registry();
  const stepDuration = new Histogram({
    name: 'saga_step_duration_seconds',
    help: 'Saga step (and undo) processing time by step and outcome',
    labelNames: ['step', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const compensations = new Counter({
    name: 'saga_compensations_total',
    help: 'Undo jobs by step and outcome (compensated, nothing_to_undo, failed)',
    labelNames: ['step', 'outcome'],
    registers: [registry],
  });
  const purchases = new Counter({
    name: 'purchases_finished_total',
    help: 'Purchases that reached a terminal status, by status and error code',
    labelNames: ['status', 'code'],
    registers: [registry],
  });
  const review = new Counter({
    name: 'purchases_needing_review_total',
    help: 'Purchases whose compensation could not complete',
    registers: [registry],
  });
  const resolvedByRetry = new Counter({
    name: 'reviews_resolved_by_retry_total',
    help: "Reviews resolved because an operator's retry left nothing undone",
    registers: [registry],
  });
  const ordersPlacedAgain = new Counter({
    name: 'orders_placed_again_total',
    help: 'Orders a purchase record said were placed but the OMS did not have, placed again before completing (a lost write: README, Scale-out)',
    registers: [registry],
  });
  const watchdog = new Counter({
    name: 'watchdog_actions_total',
    help: 'What the reconciler did to purchases past their deadline',
    labelNames: ['action'],
    registers: [registry],
  });
  const oldestWaiting = new Gauge({
    name: 'queue_oldest_waiting_seconds',
    help: 'Age of the oldest waiting job per queue and shard (a growing value means no one consumes it)',
    labelNames: ['queue', 'shard'],
    registers: [registry],
  });
  const heartbeat = new Gauge({
    name: 'workers_heartbeat_last_success_timestamp_seconds',
    help: 'When this process last wrote its heartbeat on each shard it serves (the gateway hands a shard purchases only while one is fresh)',
    labelNames: ['shard'],
    registers: [registry],
  });
  new Gauge({
    name: 'queue_jobs',
    help: 'Jobs per queue and state (summed over the shards this process serves)',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      // The workers' connection waits for Redis forever; a scrape must not.
      const all = await valueWithin(
        Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'waiting-children'))),
        500,
      );
      if (!all) return;
      const sums = new Map<string, number>();
      queues.forEach((q, i) => {
        for (const [state, n] of Object.entries(all[i]!))
          sums.set(`${q.name}\n${state}`, (sums.get(`${q.name}\n${state}`) ?? 0) + n);
      });
      for (const [key, n] of sums) {
        const [queue, state] = key.split('\n') as [string, string];
        this.set({ queue, state }, n);
      }
    },
  });
  return {
    registry,
    stepDuration,
    compensations,
    purchases,
    review,
    resolvedByRetry,
    ordersPlacedAgain,
    watchdog,
    oldestWaiting,
    heartbeat,
    partners: createPartnerMetrics(registry),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
