import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { valueWithin } from '../within.js';

/** The gateway's Prometheus metrics, on a registry of its own (one per app instance). */
export function createGatewayMetrics(inReview?: () => Promise<number>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'orchestrator_breaker_state',
      help: 'Circuit breaker in front of the orchestrator: 0 closed, 1 open, 2 half-open',
      registers: [registry],
    }),
    shardBreakerState: new Gauge({
      name: 'orchestrator_shard_breaker_state',
      help: 'Circuit breaker of each shard: 0 closed, 1 open, 2 half-open (orchestrator_breaker_state is the worst of them)',
      labelNames: ['shard'],
      registers: [registry],
    }),
    unreplicatedAcks: new Counter({
      name: 'purchase_acks_unreplicated_total',
      help: 'Purchases acknowledged before REDIS_WAIT_REPLICAS replicas had them (their master had no replica in sync)',
      registers: [registry],
    }),
    unreplicatedShards: new Gauge({
      name: 'purchase_acks_unreplicated_shard',
      help: "1 while a shard's master has no replica in sync: its purchases are acknowledged without waiting for one",
      labelNames: ['shard'],
      registers: [registry],
    }),
    replicationWait: new Histogram({
      name: 'purchase_replication_wait_seconds',
      help: 'Time the hand-off waited for replicas (WAIT) before acknowledging',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests rejected by the per-customer rate limit',
      labelNames: ['limit'],
      registers: [registry],
    }),
    purchasesAccepted: new Counter({
      name: 'purchases_accepted_total',
      help: 'Purchases handed to the orchestrator',
      labelNames: ['mode'],
      registers: [registry],
    }),
    operatorRetries: new Counter({
      name: 'operator_retries_total',
      help: 'Retries operators asked for (POST /admin/purchases/:id/retry)',
      registers: [registry],
    }),
    reviewsResolved: new Counter({
      name: 'reviews_resolved_total',
      help: 'Reviews resolved at the gateway, by how (manual: an operator with a note)',
      labelNames: ['how'],
      registers: [registry],
    }),
    inReview: new Gauge({
      name: 'purchases_in_review',
      help: 'Purchases flagged for review and not yet resolved (the operator console queue)',
      registers: [registry],
      async collect() {
        if (!inReview) return;
        const n = await valueWithin(inReview(), 500);
        if (n !== undefined) this.set(n);
      },
    }),
    purchaseOutcomes: new Counter({
      name: 'purchase_responses_total',
      help: 'Outcomes answered to purchase requests',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
