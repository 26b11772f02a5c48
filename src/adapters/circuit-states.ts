import { CircuitState } from 'cockatiel';

/** A circuit breaker's state as the console, the logs and /readyz name it. */
export type BreakerState = 'closed' | 'open' | 'half-open';

const STATES: Record<CircuitState, { name: BreakerState; gauge: number }> = {
  [CircuitState.Closed]: { name: 'closed', gauge: 0 },
  [CircuitState.Open]: { name: 'open', gauge: 1 },
  [CircuitState.HalfOpen]: { name: 'half-open', gauge: 2 },
  // Nothing here isolates a circuit by hand; were one isolated, it fails fast as an open one does.
  [CircuitState.Isolated]: { name: 'open', gauge: 1 },
};

export const circuitName = (state: CircuitState): BreakerState => STATES[state].name;
/** The value of every breaker gauge in /metrics: 0 closed, 1 open, 2 half-open. */
export const circuitGauge = (state: CircuitState): number => STATES[state].gauge;
