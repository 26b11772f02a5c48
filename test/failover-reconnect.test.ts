import { Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, redisTargetOf } from '../src/config.js';
import { connectRedis, type RedisClient } from '../src/redis.js';
import { eventually } from '../harness/eventually.js';
import { onNode, startTestCluster, type TestCluster } from '../harness/redis-cluster.js';

/**
 * The failure behind a stuck shard in test/failover.test.ts, made deterministic. When a master dies,
 * BullMQ re-establishes a worker's blocking connection (disconnect, then connect). ioredis's cluster
 * ready check then sent CLUSTER INFO to a random node — often the dead one — and on its error
 * reconnected with a new connect(), leaving the promise BullMQ awaited unsettled for ever: the worker
 * stayed "running" and never took another job. Here every CLUSTER INFO fails (an ACL denies it on
 * every node), which is what the ready check met in the failover, every time instead of by chance.
 */
describe('a worker connection re-established while CLUSTER INFO fails', () => {
  let cluster: TestCluster | undefined;
  const open: RedisClient[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) c.disconnect();
    await cluster?.stop();
    cluster = undefined;
  });

  it('connects, and a worker on it takes the next job', async () => {
    cluster = await startTestCluster();
    for (const n of cluster.nodes) await onNode(n.port, (r) => r.call('ACL', 'SETUSER', 'default', '-cluster|info'));
    const target = redisTargetOf(parseConfig({ REDIS_CLUSTER_NODES: cluster.seeds }));
    const conn = connectRedis(target, 'worker');
    open.push(conn);
    await eventually('the connection to be ready', async () => conn.status === 'ready', {
      timeout: 10_000,
      interval: 50,
    });

    // What BullMQ's RedisConnection.reconnect() does to a blocking connection it no longer trusts.
    conn.disconnect();
    const reconnected = conn.connect().then(
      () => 'settled',
      (err: Error) => `settled: ${err.message}`,
    );
    const outcome = await Promise.race([reconnected, new Promise((r) => setTimeout(() => r('still pending'), 10_000))]);
    expect(outcome).toBe('settled');

    const queue = new Queue('reconnect', { connection: conn, prefix: '{rc}' });
    const worker = new Worker('reconnect', async (job) => `done ${job.data.n}`, { connection: conn, prefix: '{rc}' });
    worker.on('error', () => {});
    try {
      const job = await queue.add('job', { n: 1 });
      await eventually('the job to complete', async () => (await queue.getJobState(job.id!)) === 'completed', {
        timeout: 20_000,
        interval: 100,
      });
      expect((await queue.getJob(job.id!))?.returnvalue).toBe('done 1');
    } finally {
      await worker.close(true);
      await queue.close();
    }
  }, 60_000);
});
