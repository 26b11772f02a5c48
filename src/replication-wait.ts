import type { Keys } from './keys.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics/gateway-metrics.js';
import { fencedWait, masterOf, type RedisClient } from './redis.js';

/** What a WAIT that failed (rather than came back short) answers. */
const NO_ANSWER = -1;
/** How often a shard whose master has no replica in sync asks whether one is back. */
const PROBE_MS = 1_000;

export interface ReplicationWait {
  /** Resolves once the purchase's master's replicas have it (or the shard is unreplicated); throws when WAIT got no answer. */
  (shard: number, purchaseId: string): Promise<void>;
  /** Asks every shard once, so that start-up says which masters have no replica in sync. */
  probeAll(): Promise<void>;
  /** Shards whose acknowledgements do not wait for a replica now, with their master's address. */
  unreplicated(): { shard: number; master?: string }[];
  close(): void;
}

/**
 * The gateway's acknowledgement wait: resolves once `replicas` replicas of the purchase's master
 * have every write the hand-off made (WAIT), or `timeoutMs` passed. Undefined when no replica is
 * waited for (one server).
 *
 * - WAIT runs on a connection of its own (`redis`), after a write of the shard's fence key there:
 *   WAIT covers that connection's last write, which comes after the hand-off's. A WAIT held to its
 *   bound therefore blocks no other command of the gateway.
 * - One WAIT per master at a time. Hand-offs that come while one is out share the next, sent when it
 *   returns: it covers every write made on the master before it.
 * - A WAIT that comes back short means the master has no replica in sync (one was lost, or there
 *   is none): the guarantee the WAIT buys cannot hold, so the shard's acknowledgements stop
 *   waiting and are counted unreplicated, said once; a probe asks again every PROBE_MS, on the same
 *   connection, and acknowledgements wait again once a replica has caught up.
 * - A WAIT that fails (the master is gone) fails the hand-offs it was for: they are not acknowledged.
 */
export function replicationWait(opts: {
  redis: RedisClient;
  keys: Keys;
  replicas: number;
  timeoutMs: number;
  metrics: Pick<GatewayMetrics, 'unreplicatedAcks' | 'replicationWait' | 'unreplicatedShards'>;
  log: Logger;
}): ReplicationWait | undefined {
  const { redis, keys, replicas, timeoutMs, metrics, log } = opts;
  if (replicas <= 0) return undefined;
  const probes = new Map<number, NodeJS.Timeout>();
  const waits = new Map<string, { out?: Promise<number>; next?: Promise<number> }>();

  const waitShard = (shard: number): Promise<number> => {
    // Shards on one master share its WAITs: one covers every write made on the master before it, and
    // WAITs for several shards queued on the master's connection would pass its command timeout.
    const on = master(shard) ?? `shard ${shard}`;
    const w = waits.get(on) ?? {};
    waits.set(on, w);
    const send = (): Promise<number> => {
      const sent = fencedWait(redis, keys.replicationFence(shard), replicas, timeoutMs)
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
      return acked >= 0 && acked < replicas ? acked : send();
    });
    return w.next;
  };

  const master = (shard: number) => masterOf(redis, keys.replicationFence(shard));

  /**
   * The shard's acknowledgements stop waiting until a probe finds a replica in sync again; so do
   * those of the other shards on the same master, which share its replicas.
   */
  const unreplicated = (shard: number, acked: number) => {
    if (probes.has(shard)) return;
    const at = master(shard);
    const same = at ? keys.allShards.filter((s) => !probes.has(s) && master(s) === at) : [shard];
    log.warn(
      { shards: same, master: at, replicas: acked, wanted: replicas },
      'master has no replica in sync: purchases on these shards are acknowledged unreplicated until one is back',
    );
    for (const s of same) probeUntilBack(s);
  };

  const probeUntilBack = (shard: number) => {
    metrics.unreplicatedShards.set({ shard: String(shard) }, 1);
    const probe = async () => {
      const acks = await waitShard(shard);
      if (!probes.has(shard)) return;
      if (acks < replicas) {
        probes.set(shard, setTimeout(() => void probe(), PROBE_MS).unref());
        return;
      }
      probes.delete(shard);
      metrics.unreplicatedShards.set({ shard: String(shard) }, 0);
      log.info({ shard, master: master(shard), replicas: acks }, 'replica in sync again: acknowledgements wait for it');
    };
    probes.set(shard, setTimeout(() => void probe(), PROBE_MS).unref());
  };

  const wait = async (shard: number, purchaseId: string) => {
    if (probes.has(shard)) {
      metrics.unreplicatedAcks.inc();
      return;
    }
    const started = performance.now();
    const acked = await waitShard(shard);
    metrics.replicationWait.observe((performance.now() - started) / 1000);
    // No answer at all: the master went away under the hand-off, and its writes may be gone with it. Not
    // acknowledged: the customer gets a 503 and retries with the Idempotency-Key, which replays the purchase
    // if the new master has it and hands it off afresh if not.
    if (acked === NO_ANSWER)
      throw new Error(`WAIT got no answer: purchase ${purchaseId} may not have survived its master`);
    if (acked < replicas) {
      metrics.unreplicatedAcks.inc();
      unreplicated(shard, acked);
    }
  };

  return Object.assign(wait, {
    async probeAll() {
      const acks = await Promise.all(keys.allShards.map((s) => waitShard(s)));
      acks.forEach((acked, shard) => {
        if (acked >= 0 && acked < replicas) unreplicated(shard, acked);
      });
    },
    unreplicated: () => [...probes.keys()].sort((a, b) => a - b).map((shard) => ({ shard, master: master(shard) })),
    close() {
      for (const timer of probes.values()) clearTimeout(timer);
      probes.clear();
    },
  });
}
