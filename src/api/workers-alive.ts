import type { Keys } from '../keys.js';
import { HEARTBEAT_TTL_MS } from '../queues/contract.js';
import type { RedisClient } from '../redis.js';

/** How long a shard's answer is kept: the check must not cost a round trip per request. */
const CACHE_MS = 1_000;

/**
 * Whether a workers process serves a shard: one with a heartbeat younger than HEARTBEAT_TTL_MS
 * (workers write it). The gateway hands a shard no purchase otherwise, and /readyz asks for all.
 */
export function workersLiveness(redis: RedisClient, keys: Keys) {
  const cache = keys.allShards.map(() => ({ at: 0, value: false }));
  const shard = async (s: number): Promise<boolean> => {
    if (Date.now() - cache[s]!.at < CACHE_MS) return cache[s]!.value;
    const count = await redis.zcount(keys.workerHeartbeats(s), Date.now() - HEARTBEAT_TTL_MS, '+inf');
    cache[s] = { at: Date.now(), value: count > 0 };
    return count > 0;
  };
  return { shard, all: async () => (await Promise.all(keys.allShards.map(shard))).every(Boolean) };
}
