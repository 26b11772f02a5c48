import type { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { AppError } from '../errors.js';
import { PARTNER_CALLBACK_PATH, PAYMENT_RETURN_PATH } from '../config.js';
import type { AuthEnv } from './middleware/auth.js';
import { problem, problemOnError } from '../http/problem.js';
import { customerRateLimit } from './middleware/rate-limit.js';
import { docsRoutes } from './docs.js';
import { BuiltinPaymentProvider } from '../adapters/builtin-provider.js';
import type { GatewayDeps } from './deps.js';
import { adminRoutes } from './routes/admin.js';
import { healthRoutes } from './routes/health.js';
import { paymentActionRoutes, paymentReturnPage } from './routes/payment-action.js';
import { stripeWebhookRoutes } from './routes/stripe-webhooks.js';
import { partnerCallbackRoutes } from './routes/partner-callbacks.js';
import { notificationRoutes } from './routes/notifications.js';
import { orderRoutes } from './routes/orders.js';
import { productRoutes } from './routes/products.js';
import { provisionedRoutes } from './routes/provisioned.js';
import { purchaseRoutes } from './routes/purchases.js';
import { MAX_BODY_BYTES } from './schemas.js';
import { limitBody } from './middleware/body-limit.js';
import { accessLog } from './middleware/access-log.js';
import { apiApp } from '../http/validation.js';

/**
 * The Purchase Gateway as a Hono app; everything it needs comes in `deps`. Its routes are
 * @hono/zod-openapi routes: they validate requests and generate /openapi.json.
 */
export function createApp(deps: GatewayDeps): OpenAPIHono {
  const { config, routes } = deps;
  const { metrics } = routes;
  const app = apiApp();
  app.onError(problemOnError(deps.log));
  app.notFound((c) => problem(c, new AppError('not_found', `No route ${c.req.method} ${c.req.path}.`)));
  if (deps.tracing) app.use('*', deps.tracing.http);
  app.use('*', requestId());
  app.use('*', secureHeaders());
  app.use('*', accessLog(metrics, deps.log));

  app.route('/', healthRoutes(deps));
  docsRoutes(app);
  outsideRoutes(app, deps);
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

  app.route('/v1', customerRoutes(deps));
  return app;
}

/**
 * Outside /v1: no bearer token and no customer rate limit. The action page's secret is its credential,
 * Stripe's signature the webhook's, a partner's signature its callback's.
 */
function outsideRoutes(app: OpenAPIHono, deps: GatewayDeps) {
  const { config, routes } = deps;
  app.get(PAYMENT_RETURN_PATH, (c) => c.html(paymentReturnPage()));
  if (routes.provider instanceof BuiltinPaymentProvider)
    app.route(
      '/pay',
      paymentActionRoutes({ provider: routes.provider, stores: routes.stores, wake: deps.purchases.wake }),
    );
  app.route(
    PARTNER_CALLBACK_PATH,
    partnerCallbackRoutes({
      stores: routes.stores,
      partnerKeys: routes.partnerKeys,
      wake: deps.purchases.wake,
      log: deps.log,
    }),
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
}

/** The customer API: a bearer token, a body limit, and the customer's rate limits (reads apart from purchases). */
function customerRoutes(deps: GatewayDeps) {
  const { config, routes } = deps;
  const { metrics, lists } = routes;
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
  return v1;
}
