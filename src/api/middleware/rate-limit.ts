import type { MiddlewareHandler } from 'hono';
import type { RedisClient } from '../../redis.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../errors.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { AuthEnv } from './auth.js';

export interface LimitOptions {
  name: string;
  points: number;
  durationS: number;
  redis: RedisClient;
  keyPrefix: string;
  metrics: GatewayMetrics;
}

/**
 * Per-customer limit (by token `sub`) on Redis, with an in-memory insurance
 * limiter that takes over while Redis is unreachable. Sets RateLimit-* headers;
 * a rejection is a 429 with Retry-After.
 */
export function customerRateLimit(opts: LimitOptions): MiddlewareHandler<AuthEnv> {
  const limiter = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: `${opts.keyPrefix}:${opts.name}`,
    points: opts.points,
    duration: opts.durationS,
    insuranceLimiter: new RateLimiterMemory({ points: opts.points, duration: opts.durationS }),
  });
  const headers = (res: RateLimiterRes): Record<string, string> => ({
    'ratelimit-limit': String(opts.points),
    'ratelimit-remaining': String(Math.max(0, res.remainingPoints)),
    'ratelimit-reset': String(Math.ceil(res.msBeforeNext / 1000)),
  });
  return async (c, next) => {
    const customer = c.get('customer');
    let res: RateLimiterRes;
    try {
      res = await limiter.consume(customer.id);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      opts.metrics.rateLimited.inc({ limit: opts.name });
      const retryAfter = String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
      throw new AppError(
        'rate_limit_exceeded',
        `At most ${opts.points} requests per ${opts.durationS} s; retry in ${retryAfter} s.`,
        {},
        { ...headers(rejection), 'retry-after': retryAfter },
      );
    }
    for (const [k, v] of Object.entries(headers(res))) c.header(k, v);
    await next();
  };
}
