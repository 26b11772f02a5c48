import path from 'node:path';
import { ConfigError, parseConfig, redisTargetOf } from './config.js';
import { portOpen, redisServerInstalled, startRedisServer, type LocalRedis } from './local-redis.js';
import { createLogger } from './logger.js';
import { startSystem } from './system.js';
import { startTracing } from './telemetry.js';

/** REDIS_URL, or whatever answers on 127.0.0.1:6379, or a redis-server child of our own. */
async function resolveRedis(
  redisUrl: string | undefined,
  dataDir: string,
): Promise<{ url: string; local?: LocalRedis }> {
  if (redisUrl) return { url: redisUrl };
  if (await portOpen(6379)) return { url: 'redis://127.0.0.1:6379' };
  if (!redisServerInstalled()) {
    console.error(
      'No Redis on 127.0.0.1:6379 and no redis-server installed: run `sudo apt-get install -y redis-server` (or set REDIS_URL).',
    );
    process.exit(1);
  }
  const local = await startRedisServer({ dir: path.join(dataDir, 'redis'), port: 6379 });
  return { url: local.url, local };
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  // A cluster or sentinels (contract §1) are used as given; otherwise REDIS_URL or a local server.
  const target = redisTargetOf(config);
  const redis =
    target.kind === 'single' ? await resolveRedis(config.REDIS_URL, config.DATA_DIR) : { url: '', local: undefined };
  if (redis.local)
    log.info({ url: redis.url, dir: path.join(config.DATA_DIR, 'redis') }, 'started a local redis-server (AOF on)');

  const tracing = await startTracing(process.env);
  if (tracing) log.info('OpenTelemetry tracing on');
  let system;
  try {
    system = await startSystem(config, target.kind === 'single' ? redis.url : target, log, tracing, process.env);
  } catch (err) {
    console.error(`start-up failed: ${(err as Error).message}`);
    await redis.local?.stop();
    process.exit(1);
  }
  if (system.gatewayUrl && system.authUrl) {
    log.info(
      `try it: curl -s -X POST ${system.authUrl}/token -H 'content-type: application/json' -d '{"sub":"cust-1"}'`,
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    await system.stop();
    await tracing?.shutdown().catch(() => {});
    await redis.local?.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

void main();
