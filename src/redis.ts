import type { Socket } from 'node:net';
import calculateSlot from 'cluster-key-slot';
import {
  Cluster,
  Redis,
  SentinelConnector,
  type ClusterOptions,
  type RedisOptions,
  type SentinelConnectionOptions,
} from 'ioredis';
import type { RedisTarget } from './config.js';

export type RedisPurpose = 'request' | 'worker' | 'subscriber';

/** A connection to any of the engines: one redis-server, a Redis Cluster or a Sentinel-watched master. */
export type RedisClient = Redis | Cluster;

export type { RedisTarget };

/**
 * How long a Cluster keeps commands waiting while a master fails over. It must outlast the
 * cluster's failover: cluster-node-timeout (15 s by default, 2 s in the tests) plus the
 * replica's election, or a worker command fails during every failover.
 */
export const CLUSTER_FAILOVER_WAIT_MS = 30_000;

function nodeOptions(purpose: RedisPurpose): RedisOptions {
  const base: RedisOptions = {
    connectionName: `purchase-${purpose}`,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    lazyConnect: false,
  };
  return purpose === 'request'
    ? { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000 }
    : { ...base, maxRetriesPerRequest: null, enableOfflineQueue: true };
}

/** What SentinelConnector keeps private and this module relies on (ioredis 5.11). */
interface SentinelConnectorInternals {
  failoverDetector: { disconnect(): void } | null;
  initFailoverDetector(): Promise<void>;
}

/**
 * ioredis's SentinelConnector, except that a +switch-master announced while a connect is under way
 * does not end the client for good.
 *
 * When a master dies its connections reconnect, and the failover detector of the connection that
 * died stays subscribed to the sentinels until the next connection is up. Their +switch-master calls
 * the connector's disconnect(); landing while connect() awaits a sentinel's answer, it makes that
 * connect() reject ("Connection is closed."), and ioredis then sets the client to 'end' with no
 * reconnect at all (Redis#_connect in ioredis 5.11). Every command on it fails from then on: the
 * gateway's breaker probes failed for the rest of a failover test (test/sentinel-reconnect.test.ts).
 * Here the detector's announcement, during a connect, only makes that connect ask the sentinels
 * again once it has an answer (which may predate the switch); at any other time it disconnects as
 * before. The client's own disconnect() or quit() still ends a pending connect.
 *
 * Passed as the `Connector` option, so a client's duplicate() (BullMQ's blocking connections) gets
 * it too.
 */
export class SwitchSafeSentinelConnector extends SentinelConnector {
  #connecting = false;
  #switched = false;

  // ioredis constructs a `Connector` with the client's options, typed unknown: a Sentinel client's are these.
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
    const internals = this as unknown as SentinelConnectorInternals;
    const init = internals.initFailoverDetector.bind(this);
    // Runs when a new connection is up: the detector it makes is in place before init's first await,
    // and it hears nothing before it has subscribed.
    internals.initFailoverDetector = () => {
      const subscribed = init();
      const detector = internals.failoverDetector;
      if (detector) {
        const disconnect = detector.disconnect.bind(detector);
        detector.disconnect = () => {
          if (this.#connecting) this.#switched = true;
          else disconnect();
        };
      }
      return subscribed;
    };
  }

  override async connect(...args: Parameters<SentinelConnector['connect']>): ReturnType<SentinelConnector['connect']> {
    this.#connecting = true;
    try {
      for (;;) {
        this.#switched = false;
        const stream = await super.connect(...args);
        if (!this.#switched) return stream;
        // The master changed while we asked: this answer may name the old one. Ask again.
        (stream as Socket).destroy();
      }
    } finally {
      this.#connecting = false;
    }
  }
}

/**
 * The one connection factory. Request-path connections fail fast (no offline queue, one
 * retry) so a Redis outage turns into a quick 503 instead of a hung request; worker
 * connections wait for Redis to come back, as BullMQ requires (maxRetriesPerRequest: null).
 *
 * On a Cluster the same split holds one level up: a request connection queues a command for
 * at most `retryDelayOnFailover` × `maxRedirections` (about 2 s) while a slot has no master
 * — then the request answers 503 — and a worker connection keeps retrying for
 * CLUSTER_FAILOVER_WAIT_MS. The offline queue stays on for both: ioredis needs it to hold
 * commands while it refreshes the slot map after a MOVED, and the request connection's
 * commandTimeout bounds it. Replicas are never read (`scaleReads: 'master'`): a purchase's
 * read must see the write just made.
 */
export function connectRedis(target: RedisTarget | string, purpose: RedisPurpose): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const node = nodeOptions(purpose);
  let redis: RedisClient;
  if (t.kind === 'cluster') {
    const request = purpose === 'request';
    const options: ClusterOptions = {
      redisOptions: {
        connectionName: node.connectionName,
        connectTimeout: node.connectTimeout,
        maxRetriesPerRequest: node.maxRetriesPerRequest,
        ...(request ? { commandTimeout: node.commandTimeout } : {}),
      },
      scaleReads: 'master',
      enableOfflineQueue: true,
      // No cluster ready check (a keyless CLUSTER INFO before 'ready'). It goes to a random node, often
      // the dead one while a master fails over; when it fails, ioredis reconnects with a new connect()
      // and never settles the promise of the one that failed (ioredis 5.11 cluster/index.js,
      // refreshListener). BullMQ awaits that promise when it re-establishes a worker's blocking
      // connection, so the worker stayed "running" without taking another job (seen in test/failover.test.ts
      // under load; test/failover-reconnect.test.ts reproduces it). A command sent while the
      // cluster is still down gets CLUSTERDOWN and is retried (retryDelayOnClusterDown).
      enableReadyCheck: false,
      // A node that vanished is retried until the cluster has promoted its replica.
      clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      retryDelayOnMoved: 0,
      maxRedirections: request ? 10 : Math.ceil(CLUSTER_FAILOVER_WAIT_MS / 200),
      // Shard channels (SSUBSCRIBE): one subscriber per master, resubscribed when a slot moves or fails over.
      shardedSubscribers: purpose === 'subscriber',
      slotsRefreshTimeout: 2_000,
      // No periodic slot refresh (ioredis's default): a MOVED, a node's error or a reconnect refreshes the map.
      // Each Cluster instance (BullMQ duplicates one per worker) would open a connection and rewrite its
      // 16384-slot map every interval, a cost measurable in the workers' CPU (docs/performance.md). Failovers
      // do not need it; what stuck purchases then was the ready check above.
    };
    redis = new Cluster(t.nodes, options);
  } else if (t.kind === 'sentinel') {
    redis = new Redis({
      ...node,
      sentinels: t.sentinels,
      name: t.name,
      role: 'master',
      // A sentinel that does not answer in time is skipped for the next one (REDIS_SENTINEL_TIMEOUT_MS).
      sentinelCommandTimeout: t.commandTimeoutMs,
      // Sentinel announces +switch-master at once: reconnect then, not at the next failed command.
      failoverDetector: true,
      Connector: SwitchSafeSentinelConnector,
      sentinelRetryStrategy: (times) => Math.min(times * 100, 2_000),
      // A demoted master answers READONLY until ioredis notices: reconnect (to the new master) and resend.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    });
  } else {
    redis = new Redis(t.url, node);
  }
  // ioredis emits 'error' on every failed reconnect; callers see failures through commands.
  redis.on('error', () => {});
  return redis;
}

/** Every master: one for a single server or Sentinel, each master node of a Cluster (for SCAN, INFO, CONFIG). */
export async function masters(redis: RedisClient): Promise<Redis[]> {
  if (!(redis instanceof Cluster)) return [redis];
  // A Cluster's node list is as fresh as its last slot refresh, and there is no periodic one: after a
  // failover it still named the demoted master and not the promoted one (an audit then saw 45 of 120
  // purchases). Refresh first; on failure the list known so far is all there is.
  await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
  return redis.nodes('master');
}

/** Resolves when the connection is ready or rejects after `timeoutMs`. */
export async function waitReady(redis: RedisClient, timeoutMs = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** The contract requires noeviction, on every master: an evicted job or record would lose a purchase. */
export async function assertNoEviction(redis: RedisClient): Promise<void> {
  for (const node of await masters(redis)) {
    const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy !== 'noeviction') {
      throw new Error(
        `Redis maxmemory-policy is "${policy}"; it must be "noeviction" (CONFIG SET maxmemory-policy noeviction)`,
      );
    }
  }
}

/**
 * WAIT on the master that owns `key`: resolves with how many replicas acknowledged every write
 * this connection made so far, after at most `timeoutMs`. On a Cluster WAIT has no key, so it
 * rides in a pipeline behind a keyed command, which sends both to the key's master on the
 * connection the writes went through.
 */
/**
 * Writes `fence` (a key on the master to wait for), then WAITs on the same connection: WAIT covers
 * the connection's last write, and the fence is written after every write the caller saw answered
 * on any connection to that master, so those are covered too. Answers how many replicas acked.
 */
export async function fencedWait(
  redis: RedisClient,
  fence: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  const replies = await redis
    .pipeline()
    .set(fence, '1', 'PX', 60_000)
    .call('WAIT', String(replicas), String(timeoutMs))
    .exec();
  const [err, n] = replies?.[1] ?? [new Error('WAIT: no reply'), 0];
  if (err) throw err;
  return Number(n);
}

/** The address (host:port) of the master that holds `key`, as this connection knows it; undefined before it connected. */
export function masterOf(redis: RedisClient, key: string): string | undefined {
  if (redis instanceof Cluster) return redis.slots[calculateSlot(key)]?.[0];
  const stream = (redis as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  return stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined;
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTUNREACH']);

/** True for the errors ioredis raises when Redis cannot be reached (as opposed to a bug or a bad reply). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && UNAVAILABLE_CODES.has(code)) ||
    /enableOfflineQueue|Connection is closed|Command timed out|Stream isn't writeable|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots|Too many Cluster redirections|READONLY/.test(
      err.message,
    )
  );
}

/** Every key matching `pattern` on every master: a Cluster's SCAN would see one node only. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of await masters(redis)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

/** The hash tag of a key (the slot it hashes by), or the key itself. */
const tagOf = (key: string) => /^[^{]*\{([^}]+)\}/.exec(key)?.[1] ?? key;

/** The JSON values of `keys` that exist, by MGET: 500 at a time, within one slot (grouped by hash tag) on a cluster. */
export async function jsonValues<T>(redis: RedisClient, keys: string[]): Promise<T[]> {
  const groups = new Map<string, string[]>();
  for (const key of keys) {
    const tag = redis instanceof Cluster ? tagOf(key) : '';
    groups.set(tag, [...(groups.get(tag) ?? []), key]);
  }
  const out: T[] = [];
  for (const group of groups.values())
    for (let i = 0; i < group.length; i += 500) {
      const raw = await redis.mget(group.slice(i, i + 500));
      for (const r of raw) if (r) out.push(JSON.parse(r) as T);
    }
  return out;
}
