import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { Logger } from '../logger.js';
import type { PartnerCallOutcome, PartnerMetrics } from '../metrics/partner-metrics.js';
import { circuitGauge, circuitName } from './circuit-states.js';
import { jobPlaces } from './job-places.js';
import { isOutage, outcomeOf, partnerOf, PartnerRefusedError, type PartnerStatus } from './partner-outcomes.js';

const RECENT_MS = 60_000;

/**
 * How long a job waits for a place at a partner whose places are all taken. A waiting job holds its
 * provisioning worker just as a call does, so the wait is short: enough for a partner that answers,
 * whose calls end and give places back all the time, to absorb a burst without refusing it; little
 * for a hanging one, whose waiters give their workers back soon (and, once they gave up, its next jobs
 * are refused without waiting, until a place frees).
 */
export const PLACE_WAIT_MS = 100;

/** A call refused (circuit open, places taken) is not worth trying again sooner than this. */
const REFUSED_RETRY_MS = 1_000;

interface Partner {
  breaker: CircuitBreakerPolicy;
  places: ReturnType<typeof jobPlaces>;
  since: number;
  failures: number[];
  lastFailure?: { at: number; reason: string };
}

export interface PartnerCallsOptions {
  /** Jobs (purchases, undos) with calls under way at one partner at once (PARTNER_CONCURRENCY). */
  places: number;
  /** How long a job waits for a place before it is refused (PLACE_WAIT_MS). */
  placeWaitMs?: number;
  /** Consecutive failed calls that open a partner's circuit. */
  breakerFailures: number;
  /** How long an open circuit refuses calls before one probe goes through. */
  halfOpenMs: number;
  metrics: PartnerMetrics;
  log: Logger;
  /** Told when a partner is first called, and of every change of its circuit. */
  onChange?(status: PartnerStatus): void;
}

export type PartnerCalls = ReturnType<typeof createPartnerCalls>;

/**
 * Each partner's calls in this process go through its own bulkhead and circuit breaker, so that a
 * partner that is down, slow or hanging holds at most `places` provisioning workers, and after
 * `breakerFailures` failures in a row its calls fail at once, until a probe after `halfOpenMs` answers.
 */
export function createPartnerCalls(opts: PartnerCallsOptions) {
  const partners = new Map<string, Partner>();
  const { metrics, log } = opts;

  const statusOf = (partner: string, p: Partner): PartnerStatus => {
    p.failures = p.failures.filter((at) => at > Date.now() - RECENT_MS);
    const last = p.lastFailure;
    return {
      partner,
      state: circuitName(p.breaker.state),
      since: new Date(p.since).toISOString(),
      recentFailures: p.failures.length,
      ...(last ? { lastFailure: { at: new Date(last.at).toISOString(), reason: last.reason } } : {}),
    };
  };

  function partnerFor(partner: string): Partner {
    const known = partners.get(partner);
    if (known) return known;
    const breaker = circuitBreaker(handleWhen(isOutage), {
      halfOpenAfter: opts.halfOpenMs,
      breaker: new ConsecutiveBreaker(opts.breakerFailures),
    });
    const p: Partner = {
      breaker,
      places: jobPlaces(opts.places, opts.placeWaitMs ?? PLACE_WAIT_MS),
      since: Date.now(),
      failures: [],
    };
    let was: CircuitState = CircuitState.Closed;
    breaker.onStateChange((state) => {
      p.since = Date.now();
      metrics.breakerState.set({ partner }, circuitGauge(state));
      const status = statusOf(partner, p);
      const fields = { partner, failures: status.recentFailures, lastFailure: status.lastFailure?.reason };
      if (state === CircuitState.Open && was === CircuitState.Closed)
        log.warn({ ...fields, probeInMs: opts.halfOpenMs }, 'partner circuit open: its calls fail fast until a probe');
      else if (state === CircuitState.Open) log.info(fields, 'partner probe failed: circuit open again');
      else if (state === CircuitState.HalfOpen) log.info(fields, 'partner circuit half-open: one probe goes through');
      else log.info(fields, 'partner circuit closed: calls go through again');
      was = state;
      opts.onChange?.(status);
    });
    metrics.breakerState.set({ partner }, 0);
    partners.set(partner, p);
    opts.onChange?.(statusOf(partner, p));
    return p;
  }

  return {
    /** Runs `fn`, a call to the partner at `url` on behalf of `job`, under that partner's bulkhead and breaker. */
    async call<T>(url: string, on: { event: string; job: string }, fn: () => Promise<T>): Promise<T> {
      const partner = partnerOf(url);
      const p = partnerFor(partner);
      const count = (outcome: PartnerCallOutcome) => metrics.calls.inc({ partner, event: on.event, outcome });
      const refuse = (why: 'open' | 'full') => {
        count(`rejected-${why}`);
        // Open: when its probe is due (probing now: a while later); full: once a place had time to free.
        const wait = why === 'open' ? p.since + opts.halfOpenMs - Date.now() : 0;
        return new PartnerRefusedError(partner, why, Date.now() + Math.max(wait, REFUSED_RETRY_MS));
      };
      // cockatiel makes a call that comes while the probe is out wait for the probe: refused instead.
      const probing = () => p.breaker.state === CircuitState.HalfOpen;
      if (probing()) throw refuse('open');
      let leave: () => void;
      try {
        leave = await p.places.enter(on.job);
      } catch (err) {
        if (err instanceof BulkheadRejectedError) throw refuse(p.breaker.state === CircuitState.Open ? 'open' : 'full');
        throw err;
      }
      let started: number | undefined;
      try {
        if (probing()) throw refuse('open');
        const answer = await p.breaker.execute(async () => {
          started = performance.now();
          metrics.inFlight.inc({ partner });
          try {
            return await fn();
          } catch (err) {
            // Noted before the breaker counts it, so that the transition it causes reports it.
            if (isOutage(err)) {
              p.failures.push(Date.now());
              p.lastFailure = { at: Date.now(), reason: (err as Error).message };
            }
            throw err;
          }
        });
        count('ok');
        metrics.duration.observe({ partner, outcome: 'ok' }, (performance.now() - started!) / 1000);
        return answer;
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw refuse('open');
        if (started === undefined) throw err;
        const outcome = outcomeOf(err);
        count(outcome);
        metrics.duration.observe({ partner, outcome }, (performance.now() - started) / 1000);
        throw err;
      } finally {
        if (started !== undefined) metrics.inFlight.dec({ partner });
        leave();
      }
    },
    /** Every partner this process has called, with its circuit's state. */
    statuses: (): PartnerStatus[] => [...partners].map(([partner, p]) => statusOf(partner, p)),
  };
}
