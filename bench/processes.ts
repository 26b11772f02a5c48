import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../harness/free-port.js';
import { startRedisServer } from '../src/local-redis.js';

/** Waits until `url` answers 2xx (a process the bench forked is up). */
export async function waitHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** SIGTERM, then SIGKILL after 10 s: a process that hangs on shutdown still ends the phase. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** A phase's own redis-server (AOF, appendfsync everysec, as the system runs it) on a free port, under `dir/name`. */
export async function benchRedis(dir: string, name = 'redis') {
  return startRedisServer({ dir: path.join(dir, name), port: await freePort(), appendfsync: 'everysec' });
}
