import type { Keys } from './keys.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics/gateway-metrics.js';
import { waitReplicas, type RedisClient } from './redis.js';

/** What a WAIT that failed (rather than came back short) answers. */
const NO_ANSWER = -1;

/**
 * The gateway's acknowledgement wait: resolves once `replicas` replicas of the purchase's master
 * have every write the hand-off made on `redis` (WAIT), or `timeoutMs` passed. Undefined when no
 * replica is waited for (one server).
 *
 * WAIT blocks the connection it runs on, and every hand-off shares that connection, so:
 * - One WAIT per shard at a time. Hand-offs that come while one is out share the next, sent when it
 *   returns: a WAIT covers every write the connection made before it, so the next one covers theirs.
 *   Side by side, each blocked the connection in turn: behind a 1.5 s WAIT to a master without its
 *   replica, the next WAIT and the job adds queued after it passed the 2 s command timeout, and the
 *   breaker opened again and again until the replica was back: 503s for the whole outage, not a few
 *   seconds (docs/scale-out.md, what a failover costs).
 * - Once a shard's WAIT comes back short (its master has lost its replica), the shard's
 *   acknowledgements skip it for a second, and so do those already waiting behind it.
 * - A WAIT that fails (the master is gone) fails the hand-offs it was for: they are not acknowledged.
 */
export function replicationWait(opts: {
  redis: RedisClient;
  keys: Keys;
  replicas: number;
  timeoutMs: number;
  metrics: Pick<GatewayMetrics, 'unreplicatedAcks' | 'replicationWait'>;
  log: Logger;
}): ((shard: number, purchaseId: string) => Promise<void>) | undefined {
  const { redis, keys, replicas, timeoutMs, metrics, log } = opts;
  if (replicas <= 0) return undefined;
  const shortUntil = keys.allShards.map(() => 0);
  const waits = keys.allShards.map(() => ({
    out: undefined as Promise<number> | undefined,
    next: undefined as Promise<number> | undefined,
  }));

  const waitShard = (shard: number, key: string): Promise<number> => {
    const w = waits[shard]!;
    const send = (): Promise<number> => {
      const sent = waitReplicas(redis, key, replicas, timeoutMs)
        .catch(() => NO_ANSWER)
        .finally(() => {
          if (w.out === sent) w.out = undefined;
        });
      w.out = sent;
      return sent;
    };
    // Between the WAIT out settling and the next one being sent, newcomers join the next one too.
    if (w.next) return w.next;
    if (!w.out) return send();
    w.next = w.out.then((acked) => {
      w.next = undefined;
      return acked < replicas ? acked : send();
    });
    return w.next;
  };

  return async (shard, purchaseId) => {
    if (Date.now() < shortUntil[shard]!) {
      metrics.unreplicatedAcks.inc();
      return;
    }
    const started = performance.now();
    // After the job's add, on the connection that made it: the record was written before it.
    const acked = await waitShard(shard, keys.purchase(purchaseId));
    metrics.replicationWait.observe((performance.now() - started) / 1000);
    // No answer at all: the master went away under the hand-off, and its writes may be gone with it. Not
    // acknowledged: the customer gets a 503 and retries with the Idempotency-Key, which replays the purchase
    // if the new master has it and hands it off afresh if not (failover.test.ts once lost one acknowledged so).
    if (acked === NO_ANSWER) throw new Error('WAIT got no answer: the purchase may not have survived its master');
    if (acked < replicas) {
      shortUntil[shard] = Date.now() + 1_000;
      metrics.unreplicatedAcks.inc();
      log.warn(
        { purchaseId, shard, replicas: acked, wanted: replicas },
        'purchase acknowledged before its replicas had it',
      );
    }
  };
}
