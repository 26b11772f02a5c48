import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../logger.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';

/** Every request counted and timed by route (not path: ids would explode the label set), and logged once. */
export function accessLog(metrics: GatewayMetrics, log: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    metrics.httpDuration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
    const line = {
      requestId: c.get('requestId') as string | undefined,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    };
    if (c.res.status >= 500) log.warn(line, 'request failed');
    else log.info(line, 'request');
  };
}
