/**
 * Baseline for the benchmark: bare BullMQ workers that do no work, one per queue
 * of a flow as deep as the purchase saga. Runs as its own process.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BASELINE_QUEUES } from './baseline-flow.js';

const url = process.env.REDIS_URL!;
const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 16);
const connection = new Redis(url, { maxRetriesPerRequest: null });
const workers = BASELINE_QUEUES.map(
  (q) => new Worker(q, async () => 'ok', { connection, prefix: 'bench', concurrency }),
);
await Promise.all(workers.map((w) => w.waitUntilReady()));
process.send?.('ready');
process.on('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.close()));
  connection.disconnect();
  process.exit(0);
});
