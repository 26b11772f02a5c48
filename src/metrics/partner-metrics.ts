import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a call to a partner came to (`partner_calls_total{outcome}`). */
export type PartnerCallOutcome = 'ok' | 'refused' | 'failed' | 'timeout' | 'rejected-open' | 'rejected-full';

/** Each partner's circuit, calls and latency in this workers process, labelled by the partner's origin. */
export function createPartnerMetrics(registry: Registry) {
  return {
    breakerState: new Gauge({
      name: 'partner_breaker_state',
      help: "Each partner's circuit in this workers process: 0 closed, 1 open (its calls fail fast), 2 half-open (a probe is out)",
      labelNames: ['partner'],
      registers: [registry],
    }),
    calls: new Counter({
      name: 'partner_calls_total',
      help: 'Calls to partners by event and outcome: ok, refused (a 4xx answer), failed (5xx, 429 or unreachable), timeout; rejected-open and rejected-full were never sent (circuit open, places taken)',
      labelNames: ['partner', 'event', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'partner_call_duration_seconds',
      help: 'Time of the calls that were sent to a partner, until its answer or the timeout',
      labelNames: ['partner', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'partner_calls_in_flight',
      help: 'Calls sent to a partner and not yet answered, in this workers process',
      labelNames: ['partner'],
      registers: [registry],
    }),
  };
}

export type PartnerMetrics = ReturnType<typeof createPartnerMetrics>;
