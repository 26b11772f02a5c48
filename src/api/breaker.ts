import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import { AppError } from '../errors.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';

export const BREAKER_STATE_NAMES: Record<CircuitState, string> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

export interface OrchestratorBreaker {
  /** Runs the hand-off; when the circuit is open, fails at once with service_unavailable. */
  execute<T>(fn: () => Promise<T>): Promise<T>;
  state(): string;
}

/**
 * Opens after `threshold` consecutive hand-off failures, answers 503 without
 * touching Redis while open, and lets one probe through after `halfOpenMs`.
 * Business errors (AppError below 500) are not failures of the orchestrator.
 */
export function createOrchestratorBreaker(opts: { threshold: number; halfOpenMs: number; metrics: GatewayMetrics }): OrchestratorBreaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(
    handleWhen((err) => !(err instanceof AppError && err.status < 500)),
    { halfOpenAfter: opts.halfOpenMs, breaker: new ConsecutiveBreaker(opts.threshold) },
  );
  const gauge = (s: CircuitState) => opts.metrics.breakerState.set(s === CircuitState.Open ? 1 : s === CircuitState.HalfOpen ? 2 : 0);
  gauge(policy.state);
  policy.onStateChange(gauge);
  return {
    async execute(fn) {
      try {
        return await policy.execute(fn);
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
    state: () => BREAKER_STATE_NAMES[policy.state],
  };
}
