import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Queue } from 'bullmq';
import { Hono } from 'hono';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { TestPaymentProvider } from './adapters/payment-provider.js';
import { createApp } from './api/app.js';
import { createOrchestratorBreaker } from './api/breaker.js';
import { createGatewayMetrics } from './metrics/gateway-metrics.js';
import { createTokenVerifier } from './api/middleware/auth.js';
import { PurchaseEvents } from './api/purchase-events.js';
import { createPurchaseService } from './api/purchase-service.js';
import { Lists } from './api/lists.js';
import { createAuthApp } from './auth/auth-server.js';
import { KeyRing } from './auth/key-ring.js';
import { readCatalogFile } from './catalog/catalog-file.js';
import { jwksUrl, type Config } from './config.js';
import { loadRules } from './purchase/rules.js';
import { keysFor } from './keys.js';
import type { Logger } from './logger.js';
import type { Tracing } from './telemetry.js';
import { HEARTBEAT_TTL_MS, startWorkers } from './workers/workers.js';
import { QUEUES } from './queues/contract.js';
import { assertNoEviction, connectRedis, waitReady, type RedisClient, type RedisTarget } from './redis.js';
import { createStores } from './stores/domain-stores.js';
import { shutDown, type ShutdownStep } from './shutdown.js';
import { IdempotencyStore } from './stores/idempotency-store.js';
import { PurchaseIntake } from './stores/purchase-intake.js';
import { sharedSecret } from './stores/shared-secret.js';
import { replicationWait } from './replication-wait.js';

export interface RunningSystem {
  gatewayUrl?: string;
  authUrl?: string;
  /** Stops taking requests and jobs, lets in-flight work finish, closes connections. */
  stop(): Promise<void>;
}

async function listen(
  app: { fetch: (req: Request) => Response | Promise<Response> },
  host: string,
  port: number,
): Promise<{ server: ServerType; url: string }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) =>
      resolve({ server, url: `http://${host}:${info.port}` }),
    );
    server.once('error', reject);
  });
}

/**
 * A server's shutdown step: stop accepting and let requests in flight end (idle keep-alive sockets
 * are closed at once, they would hold close() open); forced, every connection is cut.
 */
function serverStep(name: string, server: ServerType, before?: () => void): ShutdownStep {
  return {
    name,
    run: () =>
      new Promise<void>((resolve) => {
        before?.();
        server.close(() => resolve());
        (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      }),
    force: () => (server as { closeAllConnections?: () => void }).closeAllConnections?.(),
  };
}

/** Starts the roles named in config.ROLES against `redisUrl` (a URL, a cluster or sentinels: redisTargetOf). */
export async function startSystem(
  config: Config,
  redisUrl: RedisTarget | string,
  log: Logger,
  tracing?: Tracing,
): Promise<RunningSystem> {
  const keys = keysFor(config);
  const stops: ShutdownStep[] = [];
  const closing = (name: string, r: RedisClient): ShutdownStep => ({
    name,
    run: () => r.quit(),
    force: () => r.disconnect(),
  });
  const redis: RedisClient = connectRedis(redisUrl, 'request');
  stops.push(closing('request connection', redis));
  const system: RunningSystem = {
    // Four fifths of the process's deadline (main.ts exits at it): what is still closing then is forced, and named.
    stop: () => shutDown(stops.splice(0).reverse(), 0.8 * config.SHUTDOWN_TIMEOUT_MS, log),
  };
  let workerRegistry: Registry | undefined;
  try {
    await waitReady(redis, 10_000);
    await assertNoEviction(redis);
    // Every process loads the catalog: new products appear, known stock is never reset.
    await createStores(redis, keys).catalog.load(await readCatalogFile(config.CATALOG_FILE));

    if (config.ROLES.includes('auth')) {
      // The key pair lives in Redis: a restart, or another auth process, signs with the same one.
      const keyRing = new KeyRing(redis, keys.authKeys, config.AUTH_KEY_ACTIVATION_MS);
      await keyRing.init();
      const admin = config.ADMIN_PASSWORD ? { user: config.ADMIN_USER, password: config.ADMIN_PASSWORD } : undefined;
      const app = createAuthApp({ keys: keyRing, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, admin });
      const { server, url } = await listen(app, config.HOST, config.AUTH_PORT);
      system.authUrl = url;
      stops.push(serverStep('auth server', server));
      log.info({ url }, 'auth server listening');
    }

    if (config.ROLES.includes('workers')) {
      const workerRedis = connectRedis(redisUrl, 'worker');
      stops.push(closing('worker connection', workerRedis));
      // BullMQ defines ~50 Lua scripts on each connection it uses and ioredis copies them onto every
      // MULTI made from it: the stores get their own connection (about 9% of the workers' CPU).
      const storeRedis = connectRedis(redisUrl, 'worker');
      stops.push(closing('store connection', storeRedis));
      const stores = createStores(storeRedis, keys, config.RETENTION_S);
      const workers = await startWorkers({
        config,
        redis: workerRedis,
        stores,
        provider: new TestPaymentProvider(storeRedis, keys),
        rules: loadRules(config.RULES_FILE),
        log,
        tracing,
      });
      // No force: BullMQ's close(true) after a polite close returns the polite one. Out of time, the
      // connections below are cut (forced), which ends what the workers still wait on.
      stops.push({ name: 'workers', run: () => workers.close() });
      workerRegistry = workers.metrics.registry;
      if (!config.ROLES.includes('gateway') && config.METRICS_PORT !== undefined) {
        // A workers-only process has no gateway to serve its metrics: give them a port of their own,
        // with the process's own (memory, event loop) that the gateway's registry would otherwise carry.
        collectDefaultMetrics({ register: workers.metrics.registry });
        const app = new Hono();
        app.get('/metrics', async (c) =>
          c.body(await workerRegistry!.metrics(), 200, { 'content-type': workerRegistry!.contentType }),
        );
        app.get('/healthz', (c) => c.json({ status: 'ok' }));
        const { server, url } = await listen(app, config.HOST, config.METRICS_PORT);
        stops.push(serverStep('metrics server', server));
        log.info({ url }, 'workers metrics listening');
      }
      log.info({ queues: Object.values(QUEUES) }, 'workers started');
    }

    if (config.ROLES.includes('gateway')) {
      const stores = createStores(redis, keys, config.RETENTION_S);
      const subscriber = connectRedis(redisUrl, 'subscriber');
      const events = await PurchaseEvents.start(
        subscriber,
        keys.allShards.map((s) => keys.outcomeChannel(s)),
        keys.allShards.map((s) => keys.progressChannel(s)),
      );
      stops.push({ name: 'event subscriber', run: () => events.close() });
      const telemetry = tracing?.bullmq;
      // The queues' own connection, so the stores' transactions on `redis` do not copy BullMQ's scripts.
      const queueRedis = connectRedis(redisUrl, 'request');
      stops.push(closing('queue connection', queueRedis));
      // Every shard's queues: a purchase is handed to its customer's shard.
      const byShard = keys.allShards.map((shard) =>
        Object.values(QUEUES).map(
          (name) => new Queue(name, { connection: queueRedis, prefix: keys.queuePrefix(shard), telemetry }),
        ),
      );
      const queues = byShard.flat();
      // Connection errors surface through the calls that fail; keep them out of stderr.
      const quiet = (err: Error) => log.debug({ err: err.message }, 'queue connection error');
      for (const q of queues) q.on('error', quiet);
      stops.push({ name: 'queues', run: () => Promise.all(queues.map((q) => q.close())) });
      const queueOf = (shard: number, name: string) => byShard[shard]!.find((q) => q.name === name)!;
      const metrics = createGatewayMetrics(() => stores.purchases.inReviewCount());
      const shutdown = new AbortController();
      const breaker = createOrchestratorBreaker({
        threshold: config.BREAKER_THRESHOLD,
        halfOpenMs: config.BREAKER_HALF_OPEN_MS,
        metrics,
        shards: keys.shards,
      });

      // Cached for a second: the liveness check must not cost a round trip per request.
      const alive = keys.allShards.map(() => ({ at: 0, value: false }));
      const workersAlive = async (shard: number) => {
        const cached = alive[shard]!;
        if (Date.now() - cached.at < 1_000) return cached.value;
        const count = await redis.zcount(keys.workerHeartbeats(shard), Date.now() - HEARTBEAT_TTL_MS, '+inf');
        alive[shard] = { at: Date.now(), value: count > 0 };
        return count > 0;
      };
      const everyShardServed = async () => (await Promise.all(keys.allShards.map(workersAlive))).every(Boolean);
      const replicated = replicationWait({
        redis: queueRedis,
        keys,
        replicas: config.REDIS_WAIT_REPLICAS,
        timeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
        metrics,
        log,
      });
      const service = createPurchaseService({
        intake: new PurchaseIntake(redis, keys, config.RETENTION_S),
        idempotency: new IdempotencyStore(redis, keys),
        webhookQueue: config.NOTIFY_WEBHOOK_URL ? (shard) => queueOf(shard, QUEUES.notifications) : undefined,
        orchestrator: (shard) => queueOf(shard, QUEUES.orchestrator),
        shardOf: keys.shardOfCustomer,
        breaker,
        policy: { attempts: config.STEP_ATTEMPTS, backoffMs: config.STEP_BACKOFF_MS },
        workersAlive,
        replicated,
        onHandOffError: (err, shard) => log.warn({ shard, err: (err as Error).message }, 'purchase hand-off failed'),
      });
      const verifier = createTokenVerifier({
        jwksUrl: jwksUrl(config, system.authUrl ? Number(new URL(system.authUrl).port) : config.AUTH_PORT),
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
        timeoutMs: config.AUTH_TIMEOUT_MS,
        cooldownMs: config.AUTH_JWKS_COOLDOWN_MS,
      });
      const app = createApp({
        config,
        redis,
        stores,
        queues,
        verifier,
        service,
        events,
        breaker,
        lists: new Lists(await sharedSecret(redis, keys.cursorSecret)),
        metrics,
        log,
        workersAlive: everyShardServed,
        tracing,
        shutdown: shutdown.signal,
        otherMetrics: workerRegistry ? [workerRegistry] : [],
      });
      const { server, url } = await listen(app, config.HOST, config.PORT);
      system.gatewayUrl = url;
      // Stop taking requests first; in-flight ones finish before the connections close, event streams end.
      stops.push(serverStep('gateway server', server, () => shutdown.abort()));
      log.info({ url }, 'gateway listening');
    }
  } catch (err) {
    await system.stop();
    throw err;
  }
  return system;
}
