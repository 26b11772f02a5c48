import { afterEach, describe, expect, it } from 'vitest';
import { TERMINAL } from '../src/purchase/record.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { eventually } from '../harness/eventually.js';
import { onNode } from '../harness/redis-cluster.js';
import { startTestSentinel, type TestSentinel } from '../harness/redis-sentinel.js';

/**
 * The acknowledgement's WAIT when the master's replica stops answering (frozen here, as a replica
 * that is gone or still syncing after a failover): every WAIT then runs to its bound, and WAIT
 * blocks the connection the hand-offs share. Purchases handed off together must still all be
 * acknowledged, not time out behind one another's WAITs into 503s.
 */
describe('acknowledging purchases while the replica does not answer', () => {
  let sys: TestSystem | undefined;
  let sentinel: TestSentinel | undefined;
  afterEach(async () => {
    for (const n of sentinel?.nodes ?? []) if (n.alive()) n.signal('SIGCONT');
    await sys?.stop();
    await sentinel?.stop();
    sys = sentinel = undefined;
  });

  /** A system on a fresh master + replica + sentinels, with the WAIT bound under the 2 s command timeout. */
  async function onSentinel(env: Record<string, string> = {}) {
    const group = (sentinel = await startTestSentinel());
    const system = (sys = await startTestSystem({
      backend: { kind: 'sentinel', sentinels: group.sentinels, name: group.name },
      // The request connection's commands time out after 2 s: two bounded WAITs in a row pass that.
      env: { REDIS_WAIT_TIMEOUT_MS: '1500', ...env },
    }));
    const masterPort = await group.masterPort();
    return { group, system, masterPort, replica: group.nodes.find((n) => n.port !== masterPort)! };
  }

  it('purchases handed off together are all acknowledged (202) after one bounded WAIT, and all complete', async () => {
    const { system, replica } = await onSentinel();
    const customers = await Promise.all(Array.from({ length: 8 }, (_, i) => system.customer(`rw-${i}-${Date.now()}`)));
    replica.signal('SIGSTOP');
    const answers = await Promise.all(
      customers.flatMap((customer) =>
        [0, 1, 2].map(async (k) => ({
          customer,
          res: await customer.purchase(
            { items: [{ productId: 'basic-plan', quantity: 1 }], payment: { token: 'tok_visa' } },
            { async: true, idempotencyKey: `rw-${k}` },
          ),
        })),
      ),
    );
    replica.signal('SIGCONT');
    expect(answers.map((a) => `${a.res.status} ${a.res.body.code ?? ''}`.trim())).toEqual(answers.map(() => '202'));
    await eventually(
      'every acknowledged purchase to complete',
      async () => {
        for (const { customer, res } of answers) {
          const now = await customer.get(`/v1/purchases/${res.body.id as string}`);
          if (now.status !== 200 || !TERMINAL.has(now.body.status)) return false;
          expect(now.body.status).toBe('completed');
        }
        return true;
      },
      { timeout: 30_000, interval: 200 },
    );
  }, 90_000);

  it('a purchase whose master dies while it waits for the replica is not acknowledged: 503, and the retry with its key makes it once', async () => {
    const { system, group, masterPort, replica } = await onSentinel({ BREAKER_HALF_OPEN_MS: '500' });
    const customer = await system.customer(`rw-kill-${Date.now()}`);
    // The frozen replica holds the WAIT for its whole bound; the master dies inside it, its write unreplicated.
    replica.signal('SIGSTOP');
    const body = { items: [{ productId: 'basic-plan', quantity: 1 }], payment: { token: 'tok_visa' } };
    const answer = customer.purchase(body, { async: true, idempotencyKey: 'rw-kill' });
    await eventually(
      'the hand-off to be blocked in its WAIT',
      async () => /\bcmd=wait\b/.test(String(await onNode(masterPort, (r) => r.client('LIST')))),
      { timeout: 10_000, interval: 20 },
    );
    await group.node(masterPort).kill();
    const res = await answer;
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    // The replica comes back and is promoted; the client retries as the contract says, with the same key.
    replica.signal('SIGCONT');
    const retried = await eventually(
      'the retry to be accepted',
      async () => {
        const r = await customer.purchase(body, { async: true, idempotencyKey: 'rw-kill' });
        return r.status >= 200 && r.status < 300 ? r : undefined;
      },
      { timeout: 60_000, interval: 250 },
    );
    await eventually(
      'the purchase to complete',
      async () => {
        const now = await customer.get(`/v1/purchases/${retried.body.id as string}`);
        return now.status === 200 && now.body.status === 'completed';
      },
      { timeout: 30_000, interval: 200 },
    );
    const list = await customer.get('/v1/purchases');
    expect((list.body as { id: string }[]).map((p) => p.id)).toEqual([retried.body.id]);
  }, 120_000);
});
