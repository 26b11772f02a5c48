import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A redis-server that did not come up as the process we spawned (most often: its port was taken). */
export class RedisStartError extends Error {}

/** The process id of the redis-server (or sentinel) answering on `port`, or undefined if nothing answers as one. */
export async function redisPid(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<number | undefined> {
  const redis = new Redis({
    port,
    host,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const match = /process_id:(\d+)/.exec(await redis.info('server'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts `redis-server` as a child with AOF on and noeviction, data under `dir`.
 * Resolves once it accepts connections.
 */
export async function startRedisServer(opts: {
  dir: string;
  port: number;
  appendfsync?: 'always' | 'everysec' | 'no';
  stdio?: 'ignore' | 'inherit';
  /** More redis-server arguments (cluster mode, replicaof…). */
  args?: string[];
}): Promise<LocalRedis & { child: ChildProcess }> {
  mkdirSync(opts.dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(opts.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      path.resolve(opts.dir),
      '--appendonly',
      'yes',
      '--appendfsync',
      opts.appendfsync ?? 'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      ...(opts.args ?? []),
    ],
    { stdio: opts.stdio ?? 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  // Something else may hold the port (another server, a cluster bus): only our own child counts as started.
  while ((await redisPid(opts.port)) !== child.pid) {
    if (child.exitCode !== null)
      throw new RedisStartError(`redis-server on port ${opts.port} exited (code ${child.exitCode})`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RedisStartError('redis-server did not start within 10 s');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: `redis://127.0.0.1:${opts.port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
