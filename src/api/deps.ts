import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { PartnerKeys } from '../adapters/partner-keys.js';
import type { PaymentProvider } from '../adapters/payments.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RetryPolicy } from '../queues/contract.js';
import type { RedisClient } from '../redis.js';
import type { Stores } from '../stores/domain-stores.js';
import type { Tracing } from '../telemetry.js';
import type { OrchestratorBreaker } from './breaker.js';
import type { Lists } from './lists.js';
import type { TokenVerifier } from './middleware/auth.js';
import type { PurchaseEvents } from './purchase-events.js';
import type { PurchaseService } from './purchase-service.js';

/* What the gateway is built from (createApp), in slices built once by the gateway role. */

/** What every route reads and writes through: built once, handed to each route's factory. */
export interface RouteDeps {
  /** The gateway's request connection (rate limits). */
  redis: RedisClient;
  stores: Stores;
  /** Every shard's queues. */
  queues: Queue[];
  /** Paging of every list, with the cursor secret all gateways share. */
  lists: Lists;
  metrics: GatewayMetrics;
  /** The retry policy of the jobs routes add (order cancel, operator retry). */
  policy: RetryPolicy;
  /** The payment provider, whose ledger the audit reconciles with ours. */
  provider: PaymentProvider;
  /** Partners' keys, to verify their callbacks. */
  partnerKeys: PartnerKeys;
}

export interface GatewayDeps {
  config: Config;
  log: Logger;
  routes: RouteDeps;
  /** The purchase hand-off, the outcomes it waits for, and the wake of a purchase waiting for the outside world. */
  purchases: { service: PurchaseService; events: PurchaseEvents; wake(purchaseId: string): Promise<void> };
  /** What /readyz and /metrics report besides Redis and the verifier. */
  health: {
    breaker: OrchestratorBreaker;
    workersAlive(): Promise<boolean>;
    /** Registries of other roles in this process (the workers'), served on the same /metrics. */
    otherMetrics: Registry[];
    /** Shards whose master has no replica in sync (acknowledged unreplicated): reported, never unready. */
    unreplicated?(): { shard: number; master?: string }[];
  };
  verifier: TokenVerifier;
  /** OpenTelemetry HTTP spans, when tracing is on. */
  tracing?: Tracing;
  shutdown: AbortSignal;
}
