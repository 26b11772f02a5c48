import type { TestProject } from 'vitest/node';
import { startTestCluster } from '../../harness/redis-cluster.js';
import { startTestRedis } from '../../harness/redis-server.js';
import { startTestSentinel } from '../../harness/redis-sentinel.js';

export type TestBackend =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; seeds: string }
  | { kind: 'sentinel'; sentinels: string; name: string };

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** What the project's systems run on: the `cluster` project runs them on a 3+3 Redis Cluster, `sentinel` on a Sentinel-watched master. */
    redisBackend: TestBackend;
  }
}

/**
 * One redis-server for the whole run; each test system uses its own key prefix on it. The
 * `cluster` project (vitest.config.ts) also starts a local 3-master + 3-replica cluster and
 * runs its systems on it; the `sentinel` project a master, its replica and three sentinels.
 */
export default async function setup(project: TestProject) {
  const redis = await startTestRedis({ appendfsync: 'everysec' });
  project.provide('redisUrl', redis.url);
  if (project.name === 'cluster') {
    const cluster = await startTestCluster();
    project.provide('redisBackend', { kind: 'cluster', seeds: cluster.seeds });
    return async () => {
      await cluster.stop();
      await redis.stop();
    };
  }
  if (project.name === 'sentinel') {
    const sentinel = await startTestSentinel();
    project.provide('redisBackend', { kind: 'sentinel', sentinels: sentinel.sentinels, name: sentinel.name });
    return async () => {
      await sentinel.stop();
      await redis.stop();
    };
  }
  project.provide('redisBackend', { kind: 'single', url: redis.url });
  return async () => redis.stop();
}
