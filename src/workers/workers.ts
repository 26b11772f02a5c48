import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis.js';
import type { PartnerKeys } from '../adapters/partner-keys.js';
import type { PaymentProvider } from '../adapters/payments.js';
import { partnerCallbackUrlOf, type Config } from '../config.js';

import type { Logger } from '../logger.js';
import { createWorkerMetrics, type WorkerMetrics } from '../metrics/worker-metrics.js';
import type { PartnerCalls } from '../adapters/partner-calls.js';
import type { Tracing } from '../telemetry.js';
import type { RulesEngine } from '../purchase/rules.js';
import {
  DELIVER_JOB,
  HEARTBEAT_MS,
  HEARTBEAT_TTL_MS,
  QUEUES,
  RETRY_JOB,
  SWEEP_JOB,
  type QueueName,
  type RetryPolicies,
} from '../queues/contract.js';
import { InjectedFault, type SagaContext } from '../saga/context.js';
import { sagaHandlers } from '../saga/handlers.js';
import { retryHandler } from '../saga/retry.js';
import type { Stores } from '../stores/domain-stores.js';
import { deliverHandler } from './deliver.js';
import { startPartnerPolicies } from './partner-policies.js';
import { createWatchdog } from './watchdog.js';

// Each queue's handlers take their own job data; the dispatcher only routes by name.
type AnyHandler = (job: Job<never>) => Promise<string>;

export interface WorkersDeps {
  config: Config;
  policies: RetryPolicies;
  redis: RedisClient;
  stores: Stores;
  provider: PaymentProvider;
  rules: RulesEngine;
  partnerKeys: PartnerKeys;
  log: Logger;
  tracing?: Tracing;
}

export interface RunningWorkers {
  workers: Worker[];
  metrics: WorkerMetrics;
  close(): Promise<void>;
}

/** The queues of one shard, each under the shard's hash-tagged prefix. */
function shardQueues(deps: WorkersDeps, shard: number): Record<QueueName, Queue> {
  const prefix = deps.stores.keys.queuePrefix(shard);
  const telemetry = deps.tracing?.bullmq;
  return Object.fromEntries(
    Object.values(QUEUES).map((name) => [name, new Queue(name, { connection: deps.redis, prefix, telemetry })]),
  ) as Record<QueueName, Queue>;
}

/**
 * Starts, for each shard this process serves (WORKER_SHARDS, default all), one BullMQ worker per
 * queue, the shard's watchdog schedule, and a heartbeat on the shard that the gateway checks
 * before handing it a purchase.
 */
export async function startWorkers(deps: WorkersDeps): Promise<RunningWorkers> {
  const { config, stores, log } = deps;
  const served = config.WORKER_SHARDS ?? stores.keys.allShards;
  const queuesByShard = new Map(served.map((shard) => [shard, shardQueues(deps, shard)] as const));
  const allQueues = [...queuesByShard.values()].flatMap((qs) => Object.values(qs));
  const metrics = createWorkerMetrics(allQueues);
  const quiet = (err: Error) => log.debug({ err: err.message }, 'queue connection error');
  for (const q of allQueues) q.on('error', quiet);
  const member = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const policies = startPartnerPolicies({
    config,
    stores,
    log,
    metrics: metrics.partners,
    process: member,
    shards: served.length,
  });
  const shards = await Promise.all(
    served.map((shard) => startShard(deps, shard, queuesByShard.get(shard)!, metrics, policies.partners)),
  );
  const lastBeat = new Map(served.map((shard) => [shard, Date.now()]));
  // The store connection waits for Redis for ever: a beat still pending is not sent again behind it.
  const pending = new Set<number>();
  let stale = false;
  // One small MULTI per shard (each is its own slot), side by side.
  const beat = () =>
    Promise.all(
      served
        .filter((shard) => !pending.has(shard))
        .map((shard) => {
          pending.add(shard);
          return stores.redis
            .multi()
            .zadd(stores.keys.workerHeartbeats(shard), Date.now(), member)
            .zremrangebyscore(stores.keys.workerHeartbeats(shard), 0, Date.now() - 10 * HEARTBEAT_TTL_MS)
            .exec()
            .then(() => {
              lastBeat.set(shard, Date.now());
              metrics.heartbeat.set({ shard: String(shard) }, Date.now() / 1000);
            })
            .catch(() => {})
            .finally(() => pending.delete(shard));
        }),
    );
  // Said once when it happens and once when it ends: the gateway's 503s name no workers process.
  const watchBeats = () => {
    const late = served.filter((shard) => Date.now() - lastBeat.get(shard)! > HEARTBEAT_TTL_MS);
    if (late.length > 0 && !stale)
      log.warn({ shards: late }, 'heartbeat not written: the gateway hands these shards no purchases');
    if (late.length === 0 && stale) log.info('heartbeat written again on every shard');
    stale = late.length > 0;
  };
  await beat();
  const timer = setInterval(() => {
    watchBeats();
    void beat();
  }, HEARTBEAT_MS);
  timer.unref();

  return {
    workers: shards.flatMap((s) => s.workers),
    metrics,
    async close() {
      clearInterval(timer);
      await Promise.all(
        served.map((shard) => stores.redis.zrem(stores.keys.workerHeartbeats(shard), member).catch(() => {})),
      );
      // Worker.close waits for active jobs to finish; jobs not started stay queued for another worker.
      await Promise.all(shards.flatMap((s) => s.workers).map((w) => w.close()));
      await policies.close();
      await Promise.all(shards.map((s) => s.flows.close()));
      await Promise.all(allQueues.map((q) => q.close()));
    },
  };
}

async function startShard(
  deps: WorkersDeps,
  shard: number,
  queues: Record<QueueName, Queue>,
  metrics: WorkerMetrics,
  partners: PartnerCalls,
) {
  const { config, stores } = deps;
  const log = stores.keys.shards > 1 ? deps.log.child({ shard }) : deps.log;
  const prefix = stores.keys.queuePrefix(shard);
  const telemetry = deps.tracing?.bullmq;
  // A flow's parent and children must share a slot: this shard's flows go to this shard's queues only.
  const flows = new FlowProducer({ connection: deps.redis, prefix, telemetry });
  flows.on('error', (err: Error) => log.debug({ err: err.message }, 'queue connection error'));
  const webhookQueue = config.NOTIFY_WEBHOOK_URL ? queues.notifications : undefined;
  const ctx: SagaContext = {
    stores,
    metrics,
    provider: deps.provider,
    paymentCapture: config.PAYMENT_CAPTURE,
    rules: deps.rules,
    log,
    flows,
    webhookQueue,
    compensationPolicy: deps.policies.compensation,
    stepPolicy: deps.policies.step,
    rootAttempts: deps.policies.compensation.attempts,
    integrationTimeoutMs: config.INTEGRATION_TIMEOUT_MS,
    partnerKeys: deps.partnerKeys,
    partners,
    waitCheckMs: config.WAIT_CHECK_MS,
    partnerCallbackUrl: (unitId) => partnerCallbackUrlOf(config, unitId),
    paymentActionTimeoutMs: config.PAYMENT_ACTION_TIMEOUT_S * 1000,
    tracing: deps.tracing,
    async injectFault(point) {
      if (!config.FAULT_INJECTION) return;
      const mode = await stores.faults.take(point);
      if (mode === 'crash') {
        log.warn({ point }, 'injected crash: killing this workers process');
        process.kill(process.pid, 'SIGKILL');
      }
      if (mode) throw new InjectedFault(`injected fault at ${point}`);
    },
  };

  const watchdog = createWatchdog(ctx, queues, config.PURCHASE_DEADLINE_MS, shard);
  const handlers = sagaHandlers(ctx) as Record<QueueName, Record<string, AnyHandler>>;
  handlers.notifications = {
    [DELIVER_JOB]: deliverHandler(ctx, {
      url: config.NOTIFY_WEBHOOK_URL,
      secret: config.NOTIFY_WEBHOOK_SECRET,
    }) as AnyHandler,
  };
  handlers.orchestrator[RETRY_JOB] = retryHandler(ctx, queues, watchdog.reconcile) as AnyHandler;
  handlers.orchestrator[SWEEP_JOB] = async () => {
    const counts = await watchdog.sweep();
    for (const [action, n] of Object.entries(counts))
      if (n > 0 && action !== 'none') metrics.watchdog.inc({ action }, n);
    await watchdog.checkConsumers();
    return JSON.stringify(counts);
  };

  const workers = Object.entries(handlers).map(
    ([queue, byName]) =>
      new Worker(
        queue,
        async (job: Job) => {
          const handler = byName[job.name];
          if (!handler) throw new Error(`no handler for ${queue}/${job.name}`);
          return handler(job as Job<never>);
        },
        {
          // Shared for commands; BullMQ duplicates it for each worker's blocking connection.
          connection: deps.redis,
          prefix,
          telemetry,
          concurrency: config.WORKER_CONCURRENCY,
          lockDuration: config.LOCK_DURATION_MS,
          stalledInterval: config.STALLED_INTERVAL_MS,
          maxStalledCount: config.MAX_STALLED_COUNT,
        },
      ),
  );
  for (const w of workers) w.on('error', (err) => log.warn({ queue: w.name, err: err.message }, 'worker error'));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // One scheduler per shard for the whole deployment: upserting the same id from every workers process is idempotent.
  await queues.orchestrator.upsertJobScheduler(
    'watchdog',
    { every: config.WATCHDOG_INTERVAL_MS },
    // `true`, not a count: BullMQ trims the whole queue's completed set to a count, which would
    // drop the saga's own finished jobs on this queue every sweep.
    { name: SWEEP_JOB, data: {}, opts: { removeOnComplete: true, removeOnFail: { age: 24 * 3_600 } } },
  );
  return { workers, flows };
}
