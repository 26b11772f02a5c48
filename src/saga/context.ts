import type { FlowProducer, Queue } from 'bullmq';
import type { PartnerCalls } from '../adapters/partner-calls.js';
import type { PartnerKeys } from '../adapters/partner-keys.js';
import type { PaymentProvider } from '../adapters/payments.js';
import type { Logger } from '../logger.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import type { RulesEngine } from '../purchase/rules.js';
import type { RetryPolicy } from '../queues/contract.js';
import type { Stores } from '../stores/domain-stores.js';
import type { Tracing } from '../telemetry.js';

/** What every step and the engine may use; built once per workers process. */
export interface SagaContext {
  stores: Stores;
  provider: PaymentProvider;
  /** `pivot`: the payment step authorizes and the pivot captures; `immediate`: the payment step captures. */
  paymentCapture: 'pivot' | 'immediate';
  rules: RulesEngine;
  log: Logger;
  metrics: WorkerMetrics;
  flows: FlowProducer;
  /** Queue of webhook deliveries; undefined when NOTIFY_WEBHOOK_URL is unset. */
  webhookQueue?: Queue;
  compensationPolicy: RetryPolicy;
  /** Retry policy of forward steps, and attempts of the flow's root. */
  stepPolicy: RetryPolicy;
  rootAttempts: number;
  integrationTimeoutMs: number;
  /** Each partner's bulkhead and circuit breaker, shared by every shard this process serves: every partner call goes through them. */
  partners: PartnerCalls;
  /** Each partner secret the catalog names, resolved from this process's environment at start-up. */
  partnerKeys: PartnerKeys;
  /** Where a partner that answered 202 calls back about a unit (PUBLIC_URL + PARTNER_CALLBACK_PATH). */
  partnerCallbackUrl(unitId: string): string;
  /** How often a waiting step checks by itself (WAIT_CHECK_MS). */
  waitCheckMs: number;
  /** How long a purchase waits for its customer's payment action (PAYMENT_ACTION_TIMEOUT_S), in ms. */
  paymentActionTimeoutMs: number;
  /** Set when tracing is on: each saga step gets a span inside its job's. */
  tracing?: Tracing;
  /** Throws when an operator armed a fault at this point (FAULT_INJECTION=1 only). */
  injectFault(point: string): Promise<void>;
}

export class InjectedFault extends Error {
  override name = 'InjectedFault';
}
