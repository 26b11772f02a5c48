import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { PartnerKeys } from '../adapters/partner-keys.js';
import type { Config } from '../config.js';
import type { Keys } from '../keys.js';
import type { Logger } from '../logger.js';
import type { RetryPolicies } from '../queues/contract.js';
import type { RedisClient, RedisTarget } from '../redis.js';
import { shutDown, type ShutdownStep } from '../shutdown.js';
import type { Tracing } from '../telemetry.js';

/** What every role starts from: the configuration, Redis (the process's request connection and how to open more), the keys. */
export interface RoleContext {
  config: Config;
  redisUrl: RedisTarget | string;
  /** The process's request connection, ready, on a Redis that keeps its keys. */
  redis: RedisClient;
  keys: Keys;
  policies: RetryPolicies;
  /** The partner secrets the catalog names, resolved from the environment (never kept in Redis). */
  partnerKeys: PartnerKeys;
  log: Logger;
  tracing?: Tracing;
}

/** A started role's shutdown steps, in the order they were opened (they are closed in reverse). */
export type Started<T> = T & { stops: ShutdownStep[] };

/**
 * Starts a role: `start` pushes a shutdown step for everything it opens as it goes. If it throws,
 * what it had opened is closed before the error goes on, so a failed start leaves nothing behind.
 */
export async function startRole<T extends object>(
  ctx: RoleContext,
  start: (stops: ShutdownStep[]) => Promise<T>,
): Promise<Started<T>> {
  const stops: ShutdownStep[] = [];
  try {
    return Object.assign(await start(stops), { stops });
  } catch (err) {
    await shutDown(stops.reverse(), 0.8 * ctx.config.SHUTDOWN_TIMEOUT_MS, ctx.log);
    throw err;
  }
}

/** A connection's shutdown step: QUIT after what is queued on it, or cut at once when forced. */
export const connectionStep = (name: string, redis: RedisClient): ShutdownStep => ({
  name,
  run: () => redis.quit(),
  force: () => redis.disconnect(),
});

/** Serves `app` on host:port, with the server's shutdown step (`before` runs first when it stops). */
export async function listen(
  name: string,
  app: { fetch: (req: Request) => Response | Promise<Response> },
  host: string,
  port: number,
  before?: () => void,
): Promise<{ url: string; stop: ShutdownStep }> {
  const { server, url } = await new Promise<{ server: ServerType; url: string }>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) =>
      resolve({ server, url: `http://${host}:${info.port}` }),
    );
    server.once('error', reject);
  });
  return { url, stop: serverStep(name, server, before) };
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
