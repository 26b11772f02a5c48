import { Hono } from 'hono';
import type { GatewayDeps } from '../deps.js';

/**
 * `/healthz` (the process is up), `/readyz` (Redis, the verifier's keys, a live workers process for
 * every shard, not every breaker open; 503 when not ready) and `/metrics` (this process's registries).
 */
export function healthRoutes(deps: Pick<GatewayDeps, 'routes' | 'health' | 'verifier'>): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const [redis, auth, workers] = await Promise.all([
      deps.routes.redis.ping().then(
        () => true,
        () => false,
      ),
      deps.verifier.ready(),
      deps.health.workersAlive().catch(() => false),
    ]);
    const breaker = deps.health.breaker.state();
    // One shard's open circuit costs that shard's customers only: the gateway stays ready for the rest.
    const ready = redis && auth && workers && !deps.health.breaker.allOpen();
    // A master without its replica still sells (unreplicated): said here, but the gateway stays ready.
    const replication = deps.health.unreplicated ? { unreplicated: deps.health.unreplicated() } : undefined;
    return c.json(
      {
        status: ready ? 'ready' : 'not_ready',
        checks: { redis, auth, workers, breaker, ...(replication ? { replication } : {}) },
      },
      ready ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => {
    const texts = await Promise.all(
      [deps.routes.metrics.registry, ...deps.health.otherMetrics].map((r) => r.metrics()),
    );
    return c.body(texts.join('\n'), 200, { 'content-type': deps.routes.metrics.registry.contentType });
  });
  return app;
}
