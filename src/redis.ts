import { Redis, type RedisOptions } from 'ioredis';

export type RedisPurpose = 'request' | 'worker' | 'subscriber';

/**
 * Request-path connections fail fast (no offline queue, one retry) so a Redis
 * outage turns into a quick 503 instead of a hung request; worker connections
 * wait for Redis to come back, as BullMQ requires (maxRetriesPerRequest: null).
 */
export function connectRedis(url: string, purpose: RedisPurpose): Redis {
  const base: RedisOptions = {
    connectionName: `purchase-${purpose}`,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    lazyConnect: false,
  };
  const options: RedisOptions =
    purpose === 'request'
      ? { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000 }
      : { ...base, maxRetriesPerRequest: null, enableOfflineQueue: true };
  const redis = new Redis(url, options);
  // ioredis emits 'error' on every failed reconnect; callers see failures through commands.
  redis.on('error', () => {});
  return redis;
}

/** Resolves when the connection is ready or rejects after `timeoutMs`. */
export async function waitReady(redis: Redis, timeoutMs = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** The contract requires noeviction: an evicted job or record would lose a purchase. */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is "${policy}"; it must be "noeviction" (CONFIG SET maxmemory-policy noeviction)`);
  }
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTUNREACH']);

/** True for the errors ioredis raises when Redis cannot be reached (as opposed to a bug or a bad reply). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && UNAVAILABLE_CODES.has(code)) ||
    /enableOfflineQueue|Connection is closed|Command timed out|Stream isn't writeable/.test(err.message)
  );
}
