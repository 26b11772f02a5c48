import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisStartError, startRedisServer } from '../src/local-redis.js';
import { freePort, onFreePorts } from './free-port.js';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** SIGKILL: the server dies as in a crash (AOF keeps what was fsynced). */
  kill(): Promise<void>;
  /** Starts it again on the same port from the same AOF. */
  restart(): Promise<void>;
  /** Sends `signal` to the process (SIGSTOP freezes it: connections stay open, nothing is answered; SIGCONT thaws it). */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** A real redis-server of a test's own, on a free port in a temp dir. */
export async function startTestRedis(opts: { appendfsync?: 'always' | 'everysec' } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-redis-'));
  let port = 0;
  let server = await onFreePorts(
    async () => startRedisServer({ dir, port: (port = await freePort()), appendfsync: opts.appendfsync ?? 'always' }),
    (e) => e instanceof RedisStartError,
  );
  return {
    url: server.url,
    port,
    dir,
    async kill() {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGKILL');
      await exited;
    },
    signal(signal) {
      server.child.kill(signal);
    },
    async restart() {
      server = await startRedisServer({ dir, port, appendfsync: opts.appendfsync ?? 'always' });
    },
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
