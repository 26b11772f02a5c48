import { defineConfig } from 'vitest/config';

/** The scenario tests that also run on a Redis Cluster (the backend switch in test/helpers/global-redis.ts). */
const ON_CLUSTER = [
  'test/gateway.test.ts',
  'test/orchestrator.test.ts',
  'test/provisioner.test.ts',
  'test/sse.test.ts',
  'test/cancellation.test.ts',
  'test/order-cancel.test.ts',
  'test/operator.test.ts',
  'test/payment-action.test.ts',
  'test/stripe-purchase.test.ts',
  'test/partner-callbacks.test.ts',
  'test/partner-isolation.test.ts',
];
/** The scenario tests that also run on a Sentinel-watched master and its replica. */
const ON_SENTINEL = ['test/gateway.test.ts', 'test/orchestrator.test.ts', 'test/provisioner.test.ts'];
/** Starts its own cluster and sentinels and kills masters: run last, alone, so the timing it measures is its own. */
const FAILOVER = [
  'test/failover.test.ts',
  'test/failover-reconnect.test.ts',
  'test/sentinel-reconnect.test.ts',
  'test/replication-wait.test.ts',
  'test/replica-loss.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: two files at a time, each with its own system on its own key prefix.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'single',
          include: ['test/**/*.test.ts'],
          exclude: FAILOVER,
          globalSetup: ['test/helpers/global-redis.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        // The same files, on a local 3-master + 3-replica cluster, purchases on REDIS_SHARDS=4 shards.
        test: {
          name: 'cluster',
          include: ON_CLUSTER,
          globalSetup: ['test/helpers/global-redis.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'sentinel',
          include: ON_SENTINEL,
          globalSetup: ['test/helpers/global-redis.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'failover',
          include: FAILOVER,
          globalSetup: ['test/helpers/global-redis.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
