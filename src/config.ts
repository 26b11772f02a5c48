import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const ROLE_NAMES = ['gateway', 'workers', 'auth'] as const;

const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);
const optionalUrl = z.url().optional();
/** `host:port,host:port`: seed nodes of a cluster, or the sentinels. */
const hostPorts = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[\w.-]+:\d{1,5}$/, 'expected host:port[,host:port…]')).min(1))
  .transform((list) =>
    list.map((h) => {
      const i = h.lastIndexOf(':');
      return { host: h.slice(0, i), port: Number(h.slice(i + 1)) };
    }),
  )
  .optional();
/** `0-3,7`: a set of shard numbers. */
const shardList = z
  .string()
  .regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'expected shard numbers such as 0-7 or 0,3,5-6')
  .transform((s) =>
    s.split(',').flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number) as [number, number?];
      return Array.from({ length: Math.max(0, b! - a + 1) }, (_, i) => a + i);
    }),
  )
  .optional();

/** A Standard Webhooks secret, as the customer webhook and every partner secret must be. */
export const WEBHOOK_SECRET = {
  pattern: /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
  expected: 'whsec_ followed by at least 24 random bytes in base64 (Standard Webhooks)',
} as const;

export const BUNDLED_CATALOG = fileURLToPath(new URL('./catalog/sample-catalog.json', import.meta.url));

const schema = z.object({
  PORT: port.default(3000),
  AUTH_PORT: port.default(3001),
  HOST: z.string().default('127.0.0.1'),
  ROLES: z
    .string()
    .default('gateway,workers,auth')
    .transform((s) => [
      ...new Set(
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(z.array(z.enum(ROLE_NAMES)).min(1)),
  REDIS_URL: optionalUrl,
  /** Seed nodes of a Redis Cluster; wins over REDIS_URL (contract §1). */
  REDIS_CLUSTER_NODES: hostPorts,
  /** Sentinels watching REDIS_SENTINEL_NAME; wins over REDIS_URL (contract §1). */
  REDIS_SENTINELS: hostPorts,
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  /**
   * How long a sentinel has to answer where the master is before the next one is asked. Without it
   * one sentinel that takes connections and answers nothing (frozen, overloaded) held every
   * reconnect, and a start, for as long as it stayed so.
   */
  REDIS_SENTINEL_TIMEOUT_MS: ms.min(100).default(1_000),
  /**
   * Logical shards (hash tags) purchases are spread over; fixed for the life of the data.
   * Default 16 on a cluster, 1 otherwise (today's key layout, untagged).
   */
  REDIS_SHARDS: z.coerce.number().int().min(1).max(256).optional(),
  /** The shards this workers process serves (default all), e.g. `0-7`. */
  WORKER_SHARDS: shardList,
  /** Before acknowledging a purchase, wait for this many replicas of its master to have it (0 = don't). */
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(16).optional(),
  /** …for at most this long; past it the purchase is acknowledged anyway and counted. */
  REDIS_WAIT_TIMEOUT_MS: ms.default(500),
  // No braces: the shards put their own hash tag around the prefix (README: the shard layout).
  KEY_PREFIX: z
    .string()
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only (no hash tag: the shards add their own)')
    .default('ps'),
  DATA_DIR: z.string().default('.data'),
  AUTH_JWKS_URL: optionalUrl,
  AUTH_ISSUER: z.string().min(1).default('purchase-auth-dev'),
  AUTH_AUDIENCE: z.string().min(1).default('purchase-api'),
  AUTH_TIMEOUT_MS: ms.default(2000),
  /** Minimum time between JWKS refetches triggered by an unknown `kid` (key rotation). */
  AUTH_JWKS_COOLDOWN_MS: ms.default(30_000),
  /** Auth role: a rotated-in key is published at once and signs this much later (≥ every gateway's cooldown). */
  AUTH_KEY_ACTIVATION_MS: ms.default(60_000),
  PURCHASE_MODE: z.enum(['sync', 'async']).default('sync'),
  SYNC_TIMEOUT_MS: ms.default(10_000),
  RATE_LIMIT_POINTS: z.coerce.number().int().positive().default(10),
  RATE_LIMIT_DURATION_S: z.coerce.number().int().positive().default(60),
  READ_RATE_LIMIT_POINTS: z.coerce.number().int().positive().default(600),
  BREAKER_THRESHOLD: z.coerce.number().int().positive().default(5),
  BREAKER_HALF_OPEN_MS: ms.default(5_000),
  CATALOG_FILE: z.string().min(1).default(BUNDLED_CATALOG),
  RULES_FILE: z.string().min(1).optional(),
  ADMIN_USER: z.string().min(1).default('admin'),
  ADMIN_PASSWORD: z.string().optional(),
  FAULT_INJECTION: flag.default(false),
  NOTIFY_WEBHOOK_URL: optionalUrl,
  /** Signs every webhook delivery (Standard Webhooks: webhook-id, -timestamp, -signature), so the receiver can check it came from here. */
  NOTIFY_WEBHOOK_SECRET: z.string().regex(WEBHOOK_SECRET.pattern, WEBHOOK_SECRET.expected).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  STEP_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  STEP_BACKOFF_MS: ms.default(500),
  COMPENSATION_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  WORKER_CONCURRENCY: z.coerce.number().int().positive().default(16),
  LOCK_DURATION_MS: ms.default(30_000),
  STALLED_INTERVAL_MS: ms.default(15_000),
  MAX_STALLED_COUNT: z.coerce.number().int().min(0).default(1),
  /** Workers-only processes serve /metrics here when set. */
  METRICS_PORT: port.optional(),
  /** Finished purchase records and notifications expire after this; orders and the Product Store stay. */
  RETENTION_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(30 * 24 * 3_600),
  WATCHDOG_INTERVAL_MS: ms.default(15_000),
  PURCHASE_DEADLINE_MS: ms.default(120_000),
  /** A placed order can be canceled this long after its createdAt (contract §4.3; 14 days). */
  ORDER_CANCEL_WINDOW_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(14 * 24 * 3_600),
  INTEGRATION_TIMEOUT_MS: ms.default(3_000),
  /**
   * Purchases (and undos) with calls under way at one partner at once, per workers process; as many
   * more may wait a moment for a place, the rest are refused and retried. Default: half the process's
   * provisioning workers (WORKER_CONCURRENCY × shards served / 2), so a hanging partner never holds them all.
   */
  PARTNER_CONCURRENCY: z.coerce.number().int().positive().optional(),
  /** Consecutive failed calls (timeout, unreachable, 5xx, 429) that open a partner's circuit. */
  PARTNER_BREAKER_FAILURES: z.coerce.number().int().positive().default(5),
  /** How long an open partner circuit fails calls fast before one probe goes through. */
  PARTNER_BREAKER_HALF_OPEN_MS: ms.default(5_000),
  SHUTDOWN_TIMEOUT_MS: ms.default(10_000),
  /** Who moves the money (contract §1): the embedded test provider, or Stripe through its SDK. */
  PAYMENT_PROVIDER: z.enum(['builtin', 'stripe']).default('builtin'),
  /** `pivot`: authorize at the payment step, capture at the pivot; `immediate`: capture at the payment step. */
  PAYMENT_CAPTURE: z.enum(['pivot', 'immediate']).default('pivot'),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\w+$/, 'a Stripe secret or restricted key (sk_test_…, sk_live_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\w+$/, "the webhook endpoint's signing secret (whsec_…)")
    .optional(),
  /** Stripe's API, or a Stripe-compatible server (the tests' own). */
  STRIPE_API_BASE: optionalUrl,
  /** How long a purchase waits for its customer's payment action (3-D Secure). */
  PAYMENT_ACTION_TIMEOUT_S: z.coerce.number().int().positive().default(900),
  /** How often a step waiting for the outside world asks by itself (a lost webhook only delays it). */
  WAIT_CHECK_MS: ms.default(30_000),
  /** The gateway's address as customers reach it: the built-in provider's action pages are built from it. */
  PUBLIC_URL: optionalUrl,
});

const checked = schema
  .refine((c) => !c.REDIS_SENTINELS || c.REDIS_SENTINEL_NAME, {
    path: ['REDIS_SENTINEL_NAME'],
    message: 'required with REDIS_SENTINELS (the master group the sentinels watch)',
  })
  .refine((c) => c.PAYMENT_PROVIDER !== 'stripe' || c.STRIPE_SECRET_KEY, {
    path: ['STRIPE_SECRET_KEY'],
    message: 'required with PAYMENT_PROVIDER=stripe',
  })
  .refine((c) => !(c.REDIS_SENTINELS && c.REDIS_CLUSTER_NODES), {
    path: ['REDIS_SENTINELS'],
    message: 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
  })
  .transform((c) => ({
    ...c,
    REDIS_SHARDS: c.REDIS_SHARDS ?? (c.REDIS_CLUSTER_NODES ? 16 : 1),
    REDIS_WAIT_REPLICAS: c.REDIS_WAIT_REPLICAS ?? (c.REDIS_CLUSTER_NODES || c.REDIS_SENTINELS ? 1 : 0),
  }))
  // The request connection's commands time out after 2 s (redis.ts), and WAIT runs on one.
  .refine((c) => c.REDIS_WAIT_TIMEOUT_MS <= 1_500, { path: ['REDIS_WAIT_TIMEOUT_MS'], message: 'at most 1500 ms' })
  .refine((c) => (c.WORKER_SHARDS ?? []).every((s) => s < c.REDIS_SHARDS), {
    path: ['WORKER_SHARDS'],
    message: 'names a shard ≥ REDIS_SHARDS',
  });

export type Config = Readonly<z.infer<typeof checked>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once; every problem is reported with its variable name. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty variable (as .env files and compose leave them) means "use the default".
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = checked.safeParse(given);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(result.data);
}

/** The gateway's address as customers and partners reach it (contract §1): PUBLIC_URL, or this host and PORT. */
export const publicUrlOf = (config: Pick<Config, 'PUBLIC_URL' | 'PORT'>) =>
  (config.PUBLIC_URL ?? `http://127.0.0.1:${config.PORT}`).replace(/\/$/, '');

/** Where partners call back about a unit they answered 202 for: `<PUBLIC_URL>/webhooks/partners/<provisionedId>` (§5.1). */
export const PARTNER_CALLBACK_PATH = '/webhooks/partners';
export const partnerCallbackUrlOf = (config: Pick<Config, 'PUBLIC_URL' | 'PORT'>, unitId: string) =>
  `${publicUrlOf(config)}${PARTNER_CALLBACK_PATH}/${encodeURIComponent(unitId)}`;

/** Where a provider's own action page (Stripe's 3-D Secure) sends back a customer whose purchase gave no returnUrl. */
export const PAYMENT_RETURN_PATH = '/pay/done';

export function jwksUrl(config: Config, authPort = config.AUTH_PORT): string {
  return config.AUTH_JWKS_URL ?? `http://127.0.0.1:${authPort}/.well-known/jwks.json`;
}

/** The Redis the system runs on: a cluster or sentinels when set (contract §1), else REDIS_URL. */
export function redisTargetOf(config: Config, fallbackUrl = 'redis://127.0.0.1:6379'): RedisTarget {
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: config.REDIS_CLUSTER_NODES };
  if (config.REDIS_SENTINELS)
    return {
      kind: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_NAME!,
      commandTimeoutMs: config.REDIS_SENTINEL_TIMEOUT_MS,
    };
  return { kind: 'single', url: config.REDIS_URL ?? fallbackUrl };
}

export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[] }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; commandTimeoutMs: number };
