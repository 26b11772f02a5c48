import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const ROLE_NAMES = ['gateway', 'workers', 'auth'] as const;

const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);
const optionalUrl = z.url().optional();

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
  KEY_PREFIX: z
    .string()
    .regex(/^[\w{}.-]+$/)
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
  SHUTDOWN_TIMEOUT_MS: ms.default(10_000),
});

export type Config = Readonly<z.infer<typeof schema>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once; every problem is reported with its variable name. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty variable (as .env files and compose leave them) means "use the default".
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(given);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(result.data);
}

export function jwksUrl(config: Config, authPort = config.AUTH_PORT): string {
  return config.AUTH_JWKS_URL ?? `http://127.0.0.1:${authPort}/.well-known/jwks.json`;
}
