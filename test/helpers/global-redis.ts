import type { TestProject } from 'vitest/node';
import { startTestRedis } from './test-redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** One redis-server for the whole run; each test system uses its own key prefix on it. */
export default async function setup(project: TestProject) {
  const redis = await startTestRedis({ appendfsync: 'everysec' });
  project.provide('redisUrl', redis.url);
  return async () => redis.stop();
}
