import type { Queue } from 'bullmq';
import type { Keys } from '../keys.js';
import type { QueueName } from './contract.js';

/**
 * The gateway holds every shard's queues; a purchase's jobs (and an order's, whose id carries its
 * purchase's shard) live on its own shard's.
 */
export function shardQueue(queues: readonly Queue[], keys: Keys, id: string, name: QueueName): Queue {
  const prefix = keys.queuePrefix(keys.shardOf(id));
  const queue = queues.find((q) => q.name === name && q.opts.prefix === prefix);
  if (!queue) throw new Error(`no ${name} queue for shard ${keys.shardOf(id)}`);
  return queue;
}

/** What Bull Board puts before a queue's name: `<shard>:` once there are several shards (each name is there once per shard). */
export function boardPrefix(keys: Keys, queue: Queue): string {
  if (keys.shards === 1) return '';
  const shard = keys.allShards.find((s) => keys.queuePrefix(s) === queue.opts.prefix);
  return `${shard ?? '?'}:`;
}

/** The name Bull Board shows the queue `name` of the shard `id` lives on under. */
export function boardName(keys: Keys, id: string, name: QueueName): string {
  return keys.shards > 1 ? `${keys.shardOf(id)}:${name}` : name;
}
