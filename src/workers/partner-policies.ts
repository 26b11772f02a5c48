import { createPartnerCalls } from '../adapters/partner-calls.js';
import type { PartnerStatus } from '../adapters/partner-outcomes.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { PartnerMetrics } from '../metrics/partner-metrics.js';
import type { Stores } from '../stores/domain-stores.js';
import { PARTNER_STATUS_REFRESH_MS, PartnerStatusStore } from '../stores/partner-status-store.js';

/**
 * This process's partner policies, shared by every shard it serves (a partner's places bound this
 * process's provisioning workers, whatever shard a purchase is on), and their circuits published for
 * the console on every change and every PARTNER_STATUS_REFRESH_MS.
 */
export function startPartnerPolicies(deps: {
  config: Config;
  stores: Stores;
  log: Logger;
  metrics: PartnerMetrics;
  /** This workers process, as the console names it. */
  process: string;
  /** Shards this process serves: each has WORKER_CONCURRENCY provisioning workers. */
  shards: number;
}) {
  const { config, log } = deps;
  const store = new PartnerStatusStore(deps.stores.redis, deps.stores.keys);
  const publish = (statuses: PartnerStatus[]) =>
    store
      .publish(deps.process, statuses)
      .catch((err: Error) => log.debug({ err: err.message }, 'partner status not published'));
  const partners = createPartnerCalls({
    places: config.PARTNER_CONCURRENCY ?? Math.max(1, Math.floor((config.WORKER_CONCURRENCY * deps.shards) / 2)),
    breakerFailures: config.PARTNER_BREAKER_FAILURES,
    halfOpenMs: config.PARTNER_BREAKER_HALF_OPEN_MS,
    metrics: deps.metrics,
    log,
    onChange: (status) => void publish([status]),
  });
  // The store connection waits for Redis for ever: a refresh still pending is not sent again behind it.
  let pending: Promise<void> | undefined;
  const timer = setInterval(() => {
    pending ??= publish(partners.statuses()).finally(() => (pending = undefined));
  }, PARTNER_STATUS_REFRESH_MS);
  timer.unref();
  return {
    partners,
    async close() {
      clearInterval(timer);
      const known = partners.statuses().map((s) => s.partner);
      await store.withdraw(deps.process, known).catch(() => {});
    },
  };
}
