import type { PartnerCallOutcome } from '../metrics/partner-metrics.js';
import type { BreakerState } from './circuit-states.js';
import { OutsideServiceError } from './http-post.js';

/** One partner's standing in one workers process: what the console shows. */
export interface PartnerStatus {
  /** The partner's origin (partnerOf). */
  partner: string;
  state: BreakerState;
  /** When it entered this state (ISO). */
  since: string;
  /** Calls that failed at the partner (outages, not refusals) in the last minute. */
  recentFailures: number;
  lastFailure?: { at: string; reason: string };
}

/** A call not sent: the partner's circuit is open, or its places are taken. Retryable, as any outage is. */
export class PartnerRefusedError extends OutsideServiceError {
  override name = 'PartnerRefusedError';
  constructor(
    partner: string,
    readonly why: 'open' | 'full',
    /** Epoch ms: the earliest the call may go through (its circuit's probe, a place freed). */
    readonly retryAt: number,
  ) {
    super(
      why === 'open'
        ? `${partner} keeps failing: not called while its circuit is open`
        : `${partner} has as many purchases under way as it may: not called`,
    );
  }
}

/**
 * A partner is the origin (scheme, host, port) of its integration URL: one service, whose outage takes
 * down every path and product it serves, and the unit a bulkhead and a breaker protect.
 */
export const partnerOf = (url: string) => new URL(url).origin;

/**
 * Whether a failed call says the partner is in trouble (for its breaker): a timeout, no connection,
 * a 5xx, or a 429 (it asks us to back off). Any other 4xx is the partner's word on this one call (a unit
 * it does not know, a request or signature it refuses): it is up and answering, and failing its other
 * purchases fast would turn one bad call into an outage.
 */
export function isOutage(err: unknown): boolean {
  if (!(err instanceof OutsideServiceError)) return false;
  return err.status === undefined || err.status >= 500 || err.status === 429;
}

/** What a call that reached the partner and failed counts as in partner_calls_total. */
export function outcomeOf(err: unknown): PartnerCallOutcome {
  if (err instanceof OutsideServiceError && err.timedOut) return 'timeout';
  return err instanceof OutsideServiceError && !isOutage(err) ? 'refused' : 'failed';
}
