import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, redisTargetOf } from '../src/config.js';
import { connectRedis, type RedisClient } from '../src/redis.js';
import { eventually } from '../harness/eventually.js';
import { startTestSentinel, type TestSentinel } from '../harness/redis-sentinel.js';

/**
 * The failure behind a Sentinel failover's endless 503s in test/failover.test.ts, made deterministic.
 * A connection whose master died is reconnecting: its connector asks a sentinel for the master. The
 * failover detector of the connection that died is still subscribed to the sentinels; their
 * +switch-master lands while that question is pending, and ioredis's detector disconnects the
 * connector mid-connect. The connect then rejects ("Connection is closed.") and ioredis leaves the
 * client in 'end' for good (Redis#_connect): every command of the gateway's request connection
 * failed, each breaker probe with it. Under load a sentinel's answer is slow and the window wide;
 * here the first sentinel the client asks is frozen (SIGSTOP) until the others have failed over.
 */
describe('a Sentinel connection reconnecting while the sentinels announce the new master', () => {
  let sentinel: TestSentinel | undefined;
  const open: RedisClient[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) c.disconnect();
    sentinel?.signalSentinel(0, 'SIGCONT');
    await sentinel?.stop();
    sentinel = undefined;
  });

  /**
   * A `purpose` connection on a fresh sentinel group; then the first sentinel, the one the client asks
   * first, is frozen (SIGSTOP: it takes connections and answers nothing) and the master is killed.
   * `sentinelTimeoutMs`: how long the client waits for a sentinel's answer (REDIS_SENTINEL_TIMEOUT_MS);
   * the race needs one long enough that the question is still pending when the sentinels announce.
   */
  async function reconnectingWithFirstSentinelFrozen(purpose: 'request' | 'worker', sentinelTimeoutMs = 60_000) {
    sentinel = await startTestSentinel();
    const target = redisTargetOf(
      parseConfig({
        REDIS_SENTINELS: sentinel.sentinels,
        REDIS_SENTINEL_NAME: sentinel.name,
        REDIS_SENTINEL_TIMEOUT_MS: String(sentinelTimeoutMs),
      }),
    );
    const conn = connectRedis(target, purpose);
    open.push(conn);
    await eventually('the connection to be ready', async () => conn.status === 'ready', {
      timeout: 10_000,
      interval: 50,
    });
    const victim = await sentinel.masterPort();
    sentinel.signalSentinel(0, 'SIGSTOP');
    await sentinel.node(victim).kill();
    return { sentinel, conn, victim };
  }

  /** Waits until the connection has seen its master die and the live sentinels have promoted the replica: its port. */
  async function promotedAfterKill(sentinel: TestSentinel, conn: RedisClient, victim: number): Promise<number> {
    await eventually('the connection to notice the dead master', async () => conn.status !== 'ready', {
      timeout: 10_000,
      interval: 20,
    });
    // The two live sentinels are a quorum and a majority: they promote the replica and announce it.
    return eventually(
      'the live sentinels to promote the replica',
      async () => {
        const port = await sentinel.masterPortSaidBy(1);
        return port !== victim && port;
      },
      { timeout: 30_000, interval: 100 },
    );
  }

  /** The connection is ready again, on the promoted replica, and writes there. */
  async function expectOnPromoted(conn: RedisClient, promoted: number) {
    await eventually('the connection to be ready again', async () => conn.status === 'ready', {
      timeout: 20_000,
      interval: 50,
    }).catch((err: Error) => {
      throw new Error(`${err.message} (status ${conn.status})`);
    });
    expect((conn as unknown as { stream?: { remotePort?: number } }).stream?.remotePort).toBe(promoted);
    await expect(conn.set('sentinel-reconnect', '1')).resolves.toBe('OK');
  }

  for (const purpose of ['request', 'worker'] as const) {
    it(`a ${purpose} connection reconnects to the promoted replica`, async () => {
      const { sentinel, conn, victim } = await reconnectingWithFirstSentinelFrozen(purpose);
      const promoted = await promotedAfterKill(sentinel, conn, victim);
      // Let the announcement reach the client while its question is still pending.
      await new Promise((r) => setTimeout(r, 500));
      sentinel.signalSentinel(0, 'SIGCONT');
      await expectOnPromoted(conn, promoted);
    }, 90_000);
  }

  it('a sentinel that never answers is skipped: the connection reconnects through the others', async () => {
    // The default REDIS_SENTINEL_TIMEOUT_MS, and the first sentinel stays frozen for the whole test.
    const { sentinel, conn, victim } = await reconnectingWithFirstSentinelFrozen('request', 1_000);
    await expectOnPromoted(conn, await promotedAfterKill(sentinel, conn, victim));
  }, 90_000);

  it('a connection closed by its client while it reconnects stays closed', async () => {
    const { sentinel, conn } = await reconnectingWithFirstSentinelFrozen('worker');
    await eventually('the connection to ask a sentinel for the master', async () => conn.status === 'connecting', {
      timeout: 10_000,
      interval: 10,
    });
    conn.disconnect();
    sentinel.signalSentinel(0, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(conn.status).toBe('end');
  }, 60_000);
});
