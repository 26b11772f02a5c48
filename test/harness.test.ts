import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStartError, redisPid, startRedisServer } from '../src/local-redis.js';
import { startTestRedis, type TestRedis } from '../harness/redis-server.js';

describe('starting a redis-server of our own', () => {
  const open: TestRedis[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.stop()));
  });

  it('refuses a port another server already answers on, instead of taking that server for ours', async () => {
    const other = await startTestRedis();
    open.push(other);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-taken-'));
    try {
      await expect(startRedisServer({ dir, port: other.port })).rejects.toBeInstanceOf(RedisStartError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The server that held the port is untouched.
    expect(await redisPid(other.port)).toBeGreaterThan(0);
  });

  it('hands each caller in a process a port of its own, and a server that answers as itself', async () => {
    const servers = await Promise.all(Array.from({ length: 6 }, () => startTestRedis()));
    open.push(...servers);
    expect(new Set(servers.map((s) => s.port)).size).toBe(6);
    const pids = await Promise.all(servers.map((s) => redisPid(s.port)));
    expect(new Set(pids).size).toBe(6);
  });
});
