import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { createPaymentProvider } from '../adapters/payment-provider.js';
import { createApp } from '../api/app.js';
import { createOrchestratorBreaker } from '../api/breaker.js';
import { Lists } from '../api/lists.js';
import { createTokenVerifier } from '../api/middleware/auth.js';
import { PurchaseEvents } from '../api/purchase-events.js';
import { createPurchaseService } from '../api/purchase-service.js';
import { workersLiveness } from '../api/workers-alive.js';
import { jwksUrl } from '../config.js';
import { createGatewayMetrics } from '../metrics/gateway-metrics.js';
import { QUEUES, type QueueName } from '../queues/contract.js';
import { connectRedis } from '../redis.js';
import { replicationWait } from '../replication-wait.js';
import { createStores } from '../stores/domain-stores.js';
import { IdempotencyStore } from '../stores/idempotency-store.js';
import { PurchaseIntake } from '../stores/purchase-intake.js';
import { sharedSecret } from '../stores/shared-secret.js';
import { shardQueue } from '../queues/shard-queues.js';
import { wakeWaitingStep } from '../saga/wake.js';
import { connectionStep, listen, startRole, type RoleContext } from './role.js';

/**
 * The Purchase Gateway. `authUrl`: this process's own auth server, whose JWKS it reads, when it
 * runs one; `otherMetrics`: registries of other roles in this process, served on its /metrics.
 */
export function startGateway(ctx: RoleContext, opts: { authUrl?: string; otherMetrics: Registry[] }) {
  const { config, keys, log, redis } = ctx;
  return startRole(ctx, async (stops) => {
    const stores = createStores(redis, keys, config.RETENTION_S);
    const events = await PurchaseEvents.start(
      connectRedis(ctx.redisUrl, 'subscriber'),
      keys.allShards.map((s) => keys.outcomeChannel(s)),
      keys.allShards.map((s) => keys.progressChannel(s)),
    );
    stops.push({ name: 'event subscriber', run: () => events.close() });
    // The queues' own connection, so the stores' transactions on `redis` do not copy BullMQ's scripts.
    const queueRedis = connectRedis(ctx.redisUrl, 'request');
    stops.push(connectionStep('queue connection', queueRedis));
    const { queues, queueOf } = shardQueues(ctx, queueRedis);
    stops.push({ name: 'queues', run: () => Promise.all(queues.map((q) => q.close())) });
    const metrics = createGatewayMetrics(() => stores.purchases.inReviewCount());
    const breaker = createOrchestratorBreaker({
      threshold: config.BREAKER_THRESHOLD,
      halfOpenMs: config.BREAKER_HALF_OPEN_MS,
      metrics,
      shards: keys.shards,
    });
    const alive = workersLiveness(redis, keys);
    // WAIT blocks the connection it runs on: a connection of its own, so that no other command waits behind one.
    const replicationRedis = connectRedis(ctx.redisUrl, 'request');
    stops.push(connectionStep('replication connection', replicationRedis));
    const replicated = replicationWait({
      redis: replicationRedis,
      keys,
      replicas: config.REDIS_WAIT_REPLICAS,
      timeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
      metrics,
      log,
    });
    if (replicated) {
      stops.push({ name: 'replication probes', run: async () => replicated.close() });
      await replicated.probeAll();
    }
    const service = createPurchaseService({
      intake: new PurchaseIntake(redis, keys, config.RETENTION_S),
      idempotency: new IdempotencyStore(redis, keys),
      webhookQueue: config.NOTIFY_WEBHOOK_URL ? (shard) => queueOf(shard, QUEUES.notifications) : undefined,
      orchestrator: (shard) => queueOf(shard, QUEUES.orchestrator),
      shardOf: keys.shardOfCustomer,
      breaker,
      policy: ctx.policies.step,
      workersAlive: alive.shard,
      replicated,
      onHandOffError: (err, shard) => log.warn({ shard, err: (err as Error).message }, 'purchase hand-off failed'),
    });
    const verifier = createTokenVerifier({
      jwksUrl: jwksUrl(config, opts.authUrl ? Number(new URL(opts.authUrl).port) : config.AUTH_PORT),
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      timeoutMs: config.AUTH_TIMEOUT_MS,
      cooldownMs: config.AUTH_JWKS_COOLDOWN_MS,
    });
    const shutdown = new AbortController();
    const app = createApp({
      config,
      log,
      routes: {
        redis,
        stores,
        queues,
        lists: new Lists(await sharedSecret(redis, keys.cursorSecret)),
        metrics,
        policy: ctx.policies.step,
        provider: createPaymentProvider(config, redis, keys),
        partnerKeys: ctx.partnerKeys,
      },
      purchases: {
        service,
        events,
        async wake(purchaseId) {
          const record = await stores.purchases.get(purchaseId);
          if (record) await wakeWaitingStep((name) => shardQueue(queues, keys, purchaseId, name), record);
        },
      },
      health: {
        breaker,
        workersAlive: alive.all,
        otherMetrics: opts.otherMetrics,
        unreplicated: replicated?.unreplicated,
      },
      verifier,
      tracing: ctx.tracing,
      shutdown: shutdown.signal,
    });
    // Stop taking requests first; in-flight ones finish before the connections close, event streams end.
    const { url, stop } = await listen('gateway server', app, config.HOST, config.PORT, () => shutdown.abort());
    stops.push(stop);
    log.info({ url }, 'gateway listening');
    return { url };
  });
}

/** Every shard's queues, on one connection: a purchase is handed to its customer's shard. */
function shardQueues(ctx: RoleContext, connection: ReturnType<typeof connectRedis>) {
  const byShard = ctx.keys.allShards.map((shard) =>
    Object.values(QUEUES).map(
      (name) => new Queue(name, { connection, prefix: ctx.keys.queuePrefix(shard), telemetry: ctx.tracing?.bullmq }),
    ),
  );
  const queues = byShard.flat();
  // Connection errors surface through the calls that fail; keep them out of stderr.
  for (const q of queues) q.on('error', (err: Error) => ctx.log.debug({ err: err.message }, 'queue connection error'));
  const queueOf = (shard: number, name: QueueName) => byShard[shard]!.find((q) => q.name === name)!;
  return { queues, queueOf };
}
