import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { onNode, startTestCluster, type TestNode } from '../harness/redis-cluster.js';
import { startTestSentinel } from '../harness/redis-sentinel.js';
import type { Customer } from './helpers/customer.js';
import { metricsText, readyz } from './helpers/gateway.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/**
 * A master that loses its replica (kill -9, left down) is healthy: nothing fails over, and the
 * acknowledgement's WAIT cannot be met. Customers must not notice: no 5xx, every purchase completes,
 * the acknowledgements are counted unreplicated and said so in /metrics and /readyz (still ready);
 * once the replica is back and caught up, acknowledgements wait for it again. The WAIT settings
 * are the defaults throughout.
 */

const catalog = testCatalog().map((p) => (p.id === 'basic-plan' ? { ...p, stock: 100_000 } : p));

/** Customers buying async in a loop for `ms`: every answer's status (with the body of a refusal), and the purchases acknowledged. */
async function buyFor(customers: Customer[], ms: number) {
  const statuses: string[] = [];
  const acknowledged = new Map<string, Customer>();
  const until = Date.now() + ms;
  await Promise.all(
    customers.map(async (customer) => {
      while (Date.now() < until) {
        const res = await customer.purchase(
          { items: [{ productId: 'basic-plan', quantity: 1 }], payment: { token: 'tok_visa' } },
          { async: true },
        );
        // A refusal keeps its reason, so a failure names it.
        statuses.push(res.status === 202 ? '202' : `${res.status} ${JSON.stringify(res.body)}`);
        if (res.status === 202) acknowledged.set(res.body.id as string, customer);
      }
    }),
  );
  return { statuses, acknowledged };
}

async function expectAllCompleted(acknowledged: Map<string, Customer>) {
  const pending = new Map(acknowledged);
  await eventually(
    `${pending.size} acknowledged purchases to complete`,
    async () => {
      for (const [id, customer] of pending) {
        const res = await customer.get(`/v1/purchases/${id}`);
        if (res.status === 200 && res.body.status === 'completed') pending.delete(id);
        else expect(['accepted', 'processing']).toContain(res.body.status);
      }
      return pending.size === 0;
    },
    { timeout: 60_000, interval: 250 },
  );
}

const unreplicatedAcks = async (sys: TestSystem) =>
  Number(/^purchase_acks_unreplicated_total (\d+)/m.exec(await metricsText(sys))?.[1] ?? NaN);

/** The shards /readyz says are acknowledged unreplicated; the gateway stays ready meanwhile. */
async function unreplicatedShards(sys: TestSystem): Promise<number[]> {
  const res = await readyz(sys);
  expect(res.status).toBe(200);
  return (res.body.checks.replication.unreplicated as { shard: number; master: string }[]).map((u) => u.shard);
}

/**
 * Load, the replica killed mid-way and left down, more load: no answer but 202. Then the replica
 * is restarted: once it has caught up, acknowledgements wait again (the counter stops moving).
 */
async function loseAndRegainReplica(sys: TestSystem, replica: TestNode, shardsOfItsMaster: number[]) {
  const customers = await Promise.all(Array.from({ length: 32 }, () => sys.customer()));
  // A replica of a cluster or group just started may still be syncing: the gateway then says so, truthfully.
  await eventually(
    'every shard replicated before the replica is lost',
    async () => (await unreplicatedShards(sys)).length === 0,
    { timeout: 30_000, interval: 250 },
  );
  const before = await buyFor(customers, 1_500);
  await replica.kill();
  const after = await buyFor(customers, 4_000);
  const statuses = [...before.statuses, ...after.statuses];
  expect(statuses.filter((s) => s !== '202')).toEqual([]);
  expect(after.acknowledged.size).toBeGreaterThan(20);
  await expectAllCompleted(new Map([...before.acknowledged, ...after.acknowledged]));
  expect(await unreplicatedAcks(sys)).toBeGreaterThan(0);
  expect(await unreplicatedShards(sys)).toEqual(shardsOfItsMaster);
  expect(await metricsText(sys)).toMatch(
    new RegExp(`^purchase_acks_unreplicated_shard\\{shard="${shardsOfItsMaster[0]}"\\} 1$`, 'm'),
  );

  await replica.restart();
  await eventually(
    'acknowledgements to wait for the replica again',
    async () => ((await unreplicatedShards(sys)).length === 0 ? true : undefined),
    { timeout: 30_000, interval: 250 },
  );
  const counted = await unreplicatedAcks(sys);
  const again = await buyFor(customers, 1_000);
  expect(again.statuses.filter((s) => s !== '202')).toEqual([]);
  expect(again.acknowledged.size).toBeGreaterThan(0);
  expect(await unreplicatedAcks(sys)).toBe(counted);
  await expectAllCompleted(again.acknowledged);
}

describe('a master that loses its replica keeps selling', () => {
  /** What a test started, stopped after it, the last started first. */
  const started: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.stop();
  });
  const track = <T extends { stop(): Promise<void> }>(s: T): T => (started.push(s), s);

  it('on Sentinel: the replica kill -9d under load costs no answer; back and synced, acknowledgements wait again', async () => {
    const sentinel = track(await startTestSentinel());
    const sys = track(
      await startTestSystem({
        backend: { kind: 'sentinel', sentinels: sentinel.sentinels, name: sentinel.name },
        catalog,
      }),
    );
    const masterPort = await sentinel.masterPort();
    await loseAndRegainReplica(
      sys,
      sentinel.nodes.find((n) => n.port !== masterPort)!,
      [0],
    );
  }, 120_000);

  it("on a Redis Cluster: one master's replica kill -9d under load costs no answer; its shards only are unreplicated", async () => {
    const cluster = track(await startTestCluster());
    const sys = track(
      await startTestSystem({
        backend: { kind: 'cluster', seeds: cluster.seeds },
        catalog,
        env: { REDIS_SHARDS: '6' },
      }),
    );
    const { keys } = sys.stores;
    const port = cluster.nodes[0]!.port;
    const slotOf = (s: number) => onNode(port, (r) => r.cluster('KEYSLOT', `${keys.tag(s)}:x`)) as Promise<number>;
    const owners = await Promise.all(keys.allShards.map(async (s) => cluster.masterOfSlot(await slotOf(s))));
    const master = owners[0]!;
    const roles = await Promise.all(
      cluster.nodes.map((n) => onNode(n.port, (r) => r.call('ROLE')) as Promise<unknown[]>),
    );
    const replica = cluster.nodes.find((_, i) => roles[i]![0] === 'slave' && Number(roles[i]![2]) === master)!;
    expect(replica).toBeDefined();
    await loseAndRegainReplica(
      sys,
      replica,
      keys.allShards.filter((s) => owners[s] === master),
    );
  }, 120_000);

  it('on a Redis Cluster created without replicas, with default settings: no error under load, every shard said unreplicated', async () => {
    const cluster = track(await startTestCluster({ replicas: 0 }));
    const sys = track(await startTestSystem({ backend: { kind: 'cluster', seeds: cluster.seeds }, catalog }));
    // Known from start-up, before any purchase: nothing waits for a replica that is not there.
    expect(await unreplicatedShards(sys)).toEqual(sys.stores.keys.allShards);
    const customers = await Promise.all(Array.from({ length: 32 }, () => sys.customer()));
    const { statuses, acknowledged } = await buyFor(customers, 3_000);
    expect(statuses.filter((s) => s !== '202')).toEqual([]);
    expect(acknowledged.size).toBeGreaterThan(20);
    await expectAllCompleted(acknowledged);
    expect(await unreplicatedAcks(sys)).toBe(acknowledged.size);
  }, 120_000);
});
