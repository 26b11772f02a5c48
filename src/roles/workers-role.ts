import { Hono } from 'hono';
import { collectDefaultMetrics } from 'prom-client';
import { createPaymentProvider } from '../adapters/payment-provider.js';
import { loadRules } from '../purchase/rules.js';
import { QUEUES } from '../queues/contract.js';
import { connectRedis } from '../redis.js';
import { createStores } from '../stores/domain-stores.js';
import { startWorkers } from '../workers/workers.js';
import { connectionStep, listen, startRole, type RoleContext } from './role.js';

/**
 * The Purchase Orchestrator's workers, on connections of their own. `ownMetrics`: a workers-only
 * process has no gateway to serve its metrics, so it serves them on METRICS_PORT itself.
 */
export function startWorkerRole(ctx: RoleContext, ownMetrics: boolean) {
  const { config, log } = ctx;
  return startRole(ctx, async (stops) => {
    const workerRedis = connectRedis(ctx.redisUrl, 'worker');
    stops.push(connectionStep('worker connection', workerRedis));
    // BullMQ defines its Lua scripts on each connection it uses and ioredis copies them onto every
    // MULTI made from it: the stores get their own connection (docs/performance.md).
    const storeRedis = connectRedis(ctx.redisUrl, 'worker');
    stops.push(connectionStep('store connection', storeRedis));
    const workers = await startWorkers({
      config,
      policies: ctx.policies,
      redis: workerRedis,
      stores: createStores(storeRedis, ctx.keys, config.RETENTION_S),
      provider: createPaymentProvider(config, storeRedis, ctx.keys),
      rules: loadRules(config.RULES_FILE),
      partnerKeys: ctx.partnerKeys,
      log,
      tracing: ctx.tracing,
    });
    // No force: BullMQ's close(true) after a polite close returns the polite one. Out of time, the
    // connections above are cut (forced), which ends what the workers still wait on.
    stops.push({ name: 'workers', run: () => workers.close() });
    const registry = workers.metrics.registry;
    if (ownMetrics && config.METRICS_PORT !== undefined) {
      // With the process's own figures (memory, event loop) that the gateway's registry would otherwise carry.
      collectDefaultMetrics({ register: registry });
      const app = new Hono();
      app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }));
      app.get('/healthz', (c) => c.json({ status: 'ok' }));
      const { url, stop } = await listen('metrics server', app, config.HOST, config.METRICS_PORT);
      stops.push(stop);
      log.info({ url }, 'workers metrics listening');
    }
    log.info({ queues: Object.values(QUEUES) }, 'workers started');
    return { registry };
  });
}
