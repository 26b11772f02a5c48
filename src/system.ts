import { partnerKeys } from './adapters/partner-keys.js';
import { readCatalogFile } from './catalog/catalog-file.js';
import type { Config } from './config.js';
import { keysFor } from './keys.js';
import type { Logger } from './logger.js';
import { retryPolicies } from './queues/contract.js';
import { assertNoEviction, connectRedis, waitReady, type RedisTarget } from './redis.js';
import { startAuth } from './roles/auth-role.js';
import { startGateway } from './roles/gateway-role.js';
import { connectionStep, type RoleContext } from './roles/role.js';
import { startWorkerRole } from './roles/workers-role.js';
import { shutDown, type ShutdownStep } from './shutdown.js';
import { createStores } from './stores/domain-stores.js';
import type { Tracing } from './telemetry.js';

export interface RunningSystem {
  gatewayUrl?: string;
  authUrl?: string;
  /** Stops taking requests and jobs, lets in-flight work finish, closes connections. */
  stop(): Promise<void>;
}

/**
 * Reads the catalog and resolves the partner secrets it names from `env`, connects to Redis (a URL,
 * a cluster or sentinels: redisTargetOf), checks it keeps its keys, loads the catalog and starts the
 * roles named in config.ROLES; each role hands back its shutdown steps, and they are closed in reverse.
 */
export async function startSystem(
  config: Config,
  redisUrl: RedisTarget | string,
  log: Logger,
  tracing?: Tracing,
  env: Record<string, string | undefined> = {},
): Promise<RunningSystem> {
  // Every process, whatever its roles: a catalog that does not parse, or names a partner secret this
  // process lacks, stops it before it connects to anything.
  const products = await readCatalogFile(config.CATALOG_FILE);
  const keys = partnerKeys(products, env);
  const redis = connectRedis(redisUrl, 'request');
  const stops: ShutdownStep[] = [connectionStep('request connection', redis)];
  const system: RunningSystem = {
    // Four fifths of the process's deadline (main.ts exits at it): what is still closing then is forced, and named.
    stop: () => shutDown(stops.splice(0).reverse(), 0.8 * config.SHUTDOWN_TIMEOUT_MS, log),
  };
  const ctx: RoleContext = {
    config,
    redisUrl,
    redis,
    keys: keysFor(config),
    policies: retryPolicies(config),
    partnerKeys: keys,
    log,
    tracing,
  };
  const runs = (role: Config['ROLES'][number]) => config.ROLES.includes(role);
  try {
    await waitReady(redis, 10_000);
    await assertNoEviction(redis);
    // Every process loads the catalog: new products appear, known stock is never reset.
    await createStores(redis, ctx.keys).catalog.load(products);
    const auth = runs('auth') ? await startAuth(ctx) : undefined;
    stops.push(...(auth?.stops ?? []));
    const workers = runs('workers') ? await startWorkerRole(ctx, !runs('gateway')) : undefined;
    stops.push(...(workers?.stops ?? []));
    const gateway = runs('gateway')
      ? await startGateway(ctx, { authUrl: auth?.url, otherMetrics: workers ? [workers.registry] : [] })
      : undefined;
    stops.push(...(gateway?.stops ?? []));
    Object.assign(system, { authUrl: auth?.url, gatewayUrl: gateway?.url });
  } catch (err) {
    await system.stop();
    throw err;
  }
  return system;
}
