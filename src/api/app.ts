import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Queue } from 'bullmq';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { RedisClient } from '../redis.js';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Tracing } from '../telemetry.js';
import type { PaymentProvider } from '../adapters/payments.js';
import type { RetryPolicy } from '../queues/contract.js';
import type { Stores } from '../stores/domain-stores.js';
import type { OrchestratorBreaker } from './breaker.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { AuthEnv, TokenVerifier } from './middleware/auth.js';
import { problem, problemOnError } from '../http/problem.js';
import { customerRateLimit } from './middleware/rate-limit.js';
import { docsRoutes } from './docs.js';
import type { Lists } from './lists.js';
import type { PurchaseEvents } from './purchase-events.js';
import type { PurchaseService } from './purchase-service.js';
import { BuiltinPaymentProvider } from '../adapters/builtin-provider.js';
import { adminRoutes } from './routes/admin.js';
import { paymentActionRoutes } from './routes/payment-action.js';
import { stripeWebhookRoutes } from './routes/stripe-webhooks.js';
import { notificationRoutes } from './routes/notifications.js';
import { orderRoutes } from './routes/orders.js';
import { productRoutes } from './routes/products.js';
import { provisionedRoutes } from './routes/provisioned.js';
import { purchaseRoutes } from './routes/purchases.js';
import { MAX_BODY_BYTES } from './schemas.js';
import { limitBody } from './middleware/body-limit.js';
import { apiApp } from '../http/validation.js';

/** What every route reads and writes through: built once, handed to each route's factory. */
export interface RouteDeps {
  /** The gateway's request connection (rate limits). */
  redis: RedisClient;
  stores: Stores;
  /** Every shard's queues. */
  queues: Queue[];
  /** Paging of every list, with the cursor secret all gateways share. */
  lists: Lists;
  metrics: GatewayMetrics;
  /** The retry policy of the jobs routes add (order cancel, operator retry). */
  policy: RetryPolicy;
  /** The payment provider, whose ledger the audit reconciles with ours. */
  provider: PaymentProvider;
}

export interface GatewayDeps {
  config: Config;
  log: Logger;
  routes: RouteDeps;
  /** The purchase hand-off, the outcomes it waits for, and the wake of a purchase waiting for the outside world. */
  purchases: { service: PurchaseService; events: PurchaseEvents; wake(purchaseId: string): Promise<void> };
  /** What /readyz and /metrics report besides Redis and the verifier. */
  health: {
    breaker: OrchestratorBreaker;
    workersAlive(): Promise<boolean>;
    /** Registries of other roles in this process (the workers'), served on the same /metrics. */
    otherMetrics: Registry[];
    /** Shards whose master has no replica in sync (acknowledged unreplicated): reported, never unready. */
    unreplicated?(): { shard: number; master?: string }[];
  };
  verifier: TokenVerifier;
  /** OpenTelemetry HTTP spans, when tracing is on. */
  tracing?: Tracing;
  shutdown: AbortSignal;
}

/**
 * The Purchase Gateway as a Hono app; everything it needs comes in `deps`. Its routes are
 * @hono/zod-openapi routes: they validate requests and generate /openapi.json.
 */
export function createApp(deps: GatewayDeps): OpenAPIHono {
  const { config, routes, health } = deps;
  const { metrics, lists } = routes;
  const app = apiApp();
  app.onError(problemOnError(deps.log));
  app.notFound((c) => problem(c, new AppError('not_found', `No route ${c.req.method} ${c.req.path}.`)));
  if (deps.tracing) app.use('*', deps.tracing.http);
  app.use('*', requestId());
  app.use('*', secureHeaders());
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    metrics.httpDuration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
    const line = {
      requestId: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    };
    if (c.res.status >= 500) deps.log.warn(line, 'request failed');
    else deps.log.info(line, 'request');
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const [redis, auth, workers] = await Promise.all([
      routes.redis.ping().then(
        () => true,
        () => false,
      ),
      deps.verifier.ready(),
      health.workersAlive().catch(() => false),
    ]);
    const breaker = health.breaker.state();
    // One shard's open circuit costs that shard's customers only: the gateway stays ready for the rest.
    const ready = redis && auth && workers && !health.breaker.allOpen();
    // A master without its replica still sells (unreplicated): said here, but the gateway stays ready.
    const replication = health.unreplicated ? { unreplicated: health.unreplicated() } : undefined;
    return c.json(
      {
        status: ready ? 'ready' : 'not_ready',
        checks: { redis, auth, workers, breaker, ...(replication ? { replication } : {}) },
      },
      ready ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => {
    const texts = await Promise.all([metrics.registry, ...health.otherMetrics].map((r) => r.metrics()));
    return c.body(texts.join('\n'), 200, { 'content-type': metrics.registry.contentType });
  });
  docsRoutes(app);
  // Outside /v1: no bearer token and no customer rate limit. The action page's secret is its credential,
  // Stripe's signature the webhook's.
  if (routes.provider instanceof BuiltinPaymentProvider)
    app.route(
      '/pay',
      paymentActionRoutes({ provider: routes.provider, stores: routes.stores, wake: deps.purchases.wake }),
    );
  if (config.PAYMENT_PROVIDER === 'stripe' && config.STRIPE_WEBHOOK_SECRET)
    app.route(
      '/webhooks',
      stripeWebhookRoutes({
        secret: config.STRIPE_WEBHOOK_SECRET,
        redis: routes.redis,
        keys: routes.stores.keys,
        wake: deps.purchases.wake,
        log: deps.log,
      }),
    );

  if (config.ADMIN_PASSWORD) {
    app.route(
      '/admin',
      adminRoutes({
        ...routes,
        user: config.ADMIN_USER,
        password: config.ADMIN_PASSWORD,
        faultInjection: config.FAULT_INJECTION,
      }),
    );
  }

  const v1 = apiApp<AuthEnv>();
  v1.use(
    '*',
    limitBody({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => problem(c, new AppError('payload_too_large', `Bodies are limited to ${MAX_BODY_BYTES} bytes.`)),
    }),
  );
  v1.use('*', deps.verifier.middleware);
  const limits = { redis: routes.redis, keyPrefix: routes.stores.keys.rateLimit, metrics };
  const purchaseLimit = customerRateLimit({
    ...limits,
    name: 'purchases',
    points: config.RATE_LIMIT_POINTS,
    durationS: config.RATE_LIMIT_DURATION_S,
  });
  // Reads have their own, far larger budget: polling never eats the purchase budget.
  const readLimit = customerRateLimit({
    ...limits,
    name: 'reads',
    points: config.READ_RATE_LIMIT_POINTS,
    durationS: 60,
  });
  v1.on('GET', '*', readLimit);
  // A cancel is a write that starts a saga of its own (refund, restock, deprovision): it spends the purchase budget.
  v1.on('POST', ['/purchases/:id/cancel', '/orders/:id/cancel'], purchaseLimit);
  v1.route(
    '/purchases',
    purchaseRoutes(
      {
        ...routes,
        ...deps.purchases,
        mode: config.PURCHASE_MODE,
        syncTimeoutMs: config.SYNC_TIMEOUT_MS,
        shutdown: deps.shutdown,
      },
      purchaseLimit,
    ),
  );
  v1.route(
    '/orders',
    orderRoutes({
      ...routes,
      events: deps.purchases.events,
      syncTimeoutMs: config.SYNC_TIMEOUT_MS,
      cancelWindowS: config.ORDER_CANCEL_WINDOW_S,
    }),
  );
  v1.route('/provisioned', provisionedRoutes(routes.stores, lists));
  v1.route('/notifications', notificationRoutes(routes.stores, lists));
  v1.route('/products', productRoutes(routes.stores));
  app.route('/v1', v1);
  return app;
}
