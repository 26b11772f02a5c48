import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { circuitGauge, circuitName } from '../adapters/circuit-states.js';
import { AppError } from '../errors.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';

export interface OrchestratorBreaker {
  /** Runs the hand-off to `shard`; when its circuit is open, fails at once with service_unavailable. */
  execute<T>(fn: () => Promise<T>, shard?: number): Promise<T>;
  /** The worst state over the shards: 'open' as soon as one shard's circuit is. */
  state(): string;
  /** True while every shard's circuit is open: nothing can be handed off at all. */
  allOpen(): boolean;
}

const SEVERITY: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 3,
};

/**
 * Opens after `threshold` consecutive hand-off failures to a shard, answers 503 without
 * touching Redis while open, and lets one probe through after `halfOpenMs`; each shard has
 * its own circuit.
 * Business errors (AppError below 500) are not failures of the orchestrator.
 */
export function createOrchestratorBreaker(opts: {
  threshold: number;
  halfOpenMs: number;
  metrics: GatewayMetrics;
  /** One circuit per shard, so a shard whose master is failing over costs that shard's traffic only. */
  shards?: number;
}): OrchestratorBreaker {
  const policies: CircuitBreakerPolicy[] = Array.from({ length: opts.shards ?? 1 }, () =>
    circuitBreaker(
      handleWhen((err) => !(err instanceof AppError && err.status < 500)),
      {
        halfOpenAfter: opts.halfOpenMs,
        breaker: new ConsecutiveBreaker(opts.threshold),
      },
    ),
  );
  const worst = () => policies.reduce((w, p) => (SEVERITY[p.state] > SEVERITY[w] ? p.state : w), CircuitState.Closed);
  const gauge = () => {
    const s = worst();
    opts.metrics.breakerState.set(circuitGauge(s));
    policies.forEach((p, shard) => opts.metrics.shardBreakerState.set({ shard: String(shard) }, circuitGauge(p.state)));
  };
  gauge();
  for (const p of policies) p.onStateChange(gauge);
  return {
    async execute(fn, shard = 0) {
      try {
        return await policies[shard]!.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          throw new AppError(
            'service_unavailable',
            'The purchase orchestrator is unavailable (circuit open); try again shortly.',
            {},
            { 'retry-after': String(Math.ceil(opts.halfOpenMs / 1000)) },
          );
        }
        throw err;
      }
    },
    state: () => circuitName(worst()),
    allOpen: () => policies.every((p) => p.state === CircuitState.Open),
  };
}
