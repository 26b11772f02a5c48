import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.js';
import { expectProblem, expectRetryAfter, metricsText, readyz, timed } from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { startTestRedis, type TestRedis } from '../harness/redis-server.js';

describe('gateway: Redis unreachable', () => {
  let redis: TestRedis;
  let rsys: TestSystem;
  beforeAll(async () => {
    redis = await startTestRedis();
    rsys = await startTestSystem({
      redisUrl: redis.url,
      env: { BREAKER_THRESHOLD: '3', BREAKER_HALF_OPEN_MS: '1000' },
    });
    rsys.redis.on('error', () => {});
  });
  afterAll(async () => {
    await rsys?.stop();
    await redis?.stop();
  });

  it('answers 503 fast, opens the breaker after the threshold, and closes it once Redis is back', async () => {
    const customer = await rsys.customer();
    // Warm: keys cached, breaker closed, the path works.
    expect((await customer.buy('basic-plan')).status).toBe(201);
    await redis.kill();

    for (let i = 0; i < 3; i++) {
      const [res, ms] = await timed(() => customer.buy('basic-plan'));
      expectProblem(res, 503, 'service_unavailable'); // never a 500
      expectRetryAfter(res);
      expect(ms).toBeLessThan(5_000); // well under SYNC_TIMEOUT_MS (10 s)
      expect(res.body.detail).not.toMatch(/circuit/i);
    }
    // Threshold reached: the breaker is open and rejects at once.
    const [open, openMs] = await timed(() => customer.buy('basic-plan'));
    expectProblem(open, 503, 'service_unavailable');
    expect(open.body.detail).toMatch(/circuit/i);
    expectRetryAfter(open);
    expect(openMs).toBeLessThan(1_000);
    const ready = await readyz(rsys);
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toMatchObject({ redis: false, breaker: 'open' });
    expect(await metricsText(rsys)).toMatch(/^orchestrator_breaker_state 1$/m);

    await redis.restart();
    await eventually(
      'Redis and the workers to be back',
      async () => {
        const { checks } = (await readyz(rsys)).body;
        return checks.redis === true && checks.workers === true;
      },
      { timeout: 15_000 },
    );
    // Past half-open, a probe goes through and closes the breaker.
    const ok = await eventually(
      'a purchase to succeed after Redis is back',
      async () => {
        const res = await customer.buy('basic-plan');
        if (res.status === 201) return res;
        expectProblem(res, 503, 'service_unavailable');
        return undefined;
      },
      { timeout: 15_000 },
    );
    expect(ok.body.status).toBe('completed');
    expect(await metricsText(rsys)).toMatch(/^orchestrator_breaker_state 0$/m);
    expect((await readyz(rsys)).body.checks.breaker).toBe('closed');
    expect(await customer.orders()).toHaveLength(2);
  });

  it('answers customer reads with service_unavailable (not 500) while Redis is down', async () => {
    const customer = await rsys.customer();
    const bought = await customer.buy('basic-plan');
    expect(bought.status).toBe(201);
    await redis.kill();
    try {
      for (const path of [
        '/v1/orders',
        `/v1/purchases/${bought.body.id}`,
        '/v1/products',
        '/v1/provisioned',
        '/v1/notifications',
        `/v1/purchases/${bought.body.id}/events`,
      ]) {
        const [res, ms] = await timed(() => customer.get(path));
        expectProblem(res, 503, 'service_unavailable');
        expectRetryAfter(res);
        expect(ms).toBeLessThan(5_000);
      }
    } finally {
      await redis.restart();
    }
    const back = await eventually(
      'reads to work again',
      async () => {
        const res = await customer.get('/v1/orders');
        return res.status === 200 ? res : undefined;
      },
      { timeout: 15_000 },
    );
    expect(back.body.map((o: { purchaseId: string }) => o.purchaseId)).toContain(bought.body.id);
  });
});
