import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutsideServiceError } from '../../src/adapters/http-post.js';
import { createPartnerCalls } from '../../src/adapters/partner-calls.js';
import { PartnerRefusedError, type PartnerStatus } from '../../src/adapters/partner-outcomes.js';
import { createLogger } from '../../src/logger.js';
import { createPartnerMetrics } from '../../src/metrics/partner-metrics.js';

/** src/adapters/partner-calls.ts: each partner's places and circuit, without Redis or HTTP. */

const URL_A = 'http://a.example:8080/hooks/provision';
const A = 'http://a.example:8080';

const WAIT_MS = 30;

function setUp(opts: { places?: number; breakerFailures?: number; halfOpenMs?: number } = {}) {
  const metrics = createPartnerMetrics(new Registry());
  const logs: { msg: string; partner?: string }[] = [];
  const changes: PartnerStatus[] = [];
  const partners = createPartnerCalls({
    places: opts.places ?? 4,
    placeWaitMs: WAIT_MS,
    breakerFailures: opts.breakerFailures ?? 2,
    halfOpenMs: opts.halfOpenMs ?? 1_000,
    metrics,
    log: createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line)) }),
    onChange: (s) => changes.push(s),
  });
  const counted = async (outcome: string) =>
    (await metrics.calls.get()).values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
  const gauge = async () => (await metrics.breakerState.get()).values.find((v) => v.labels.partner === A)?.value;
  return { partners, metrics, logs, changes, counted, gauge };
}

/** A call whose answer the test gives when it likes. */
function pending<T = string>() {
  let answer!: (value: T) => void;
  let fail!: (err: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  return { promise, answer, fail };
}

const outage = () => Promise.reject(new OutsideServiceError(`${URL_A} answered 503`, 503));

afterEach(() => {
  vi.useRealTimers();
});

describe('partner calls: places', () => {
  it("a job's calls share its place; a job that finds every place taken waits a moment, then is refused, never sent", async () => {
    const { partners, counted } = setUp({ places: 1 });
    const [one, two] = [pending(), pending()];
    const first = partners.call(URL_A, { event: 'provision', job: 'p1-provision' }, () => one.promise);
    const second = partners.call(URL_A, { event: 'provision', job: 'p1-provision' }, () => two.promise);
    const sent = vi.fn(() => Promise.resolve('sent'));
    const started = performance.now();
    await expect(partners.call(URL_A, { event: 'provision', job: 'p2-provision' }, sent)).rejects.toMatchObject({
      name: 'PartnerRefusedError',
      why: 'full',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(WAIT_MS - 5);
    expect(sent).not.toHaveBeenCalled();
    expect(await counted('rejected-full')).toBe(1);
    // Its spot in line stays taken until a place frees: the next job is refused without waiting.
    await expect(partners.call(URL_A, { event: 'provision', job: 'p3-provision' }, sent)).rejects.toMatchObject({
      why: 'full',
    });

    one.answer('a');
    two.answer('b');
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
    // The place is back.
    await expect(partners.call(URL_A, { event: 'provision', job: 'p2-provision' }, sent)).resolves.toBe('sent');
  });

  it('a job that waits gets the place as soon as one frees', async () => {
    const { partners } = setUp({ places: 1 });
    const busy = pending();
    const first = partners.call(URL_A, { event: 'provision', job: 'p1-provision' }, () => busy.promise);
    const second = partners.call(URL_A, { event: 'provision', job: 'p2-provision' }, () => Promise.resolve('second'));
    busy.answer('first');
    expect(await Promise.all([first, second])).toEqual(['first', 'second']);
  });

  it('another partner has places of its own', async () => {
    const { partners } = setUp({ places: 1 });
    const hanging = pending();
    void partners.call(URL_A, { event: 'provision', job: 'p1-provision' }, () => hanging.promise);
    await expect(
      partners.call('http://b.example/hooks', { event: 'provision', job: 'p2-provision' }, () => Promise.resolve(1)),
    ).resolves.toBe(1);
    hanging.answer('done');
  });
});

describe('partner calls: the circuit', () => {
  it('opens after consecutive outages, then refuses without calling; a probe after halfOpenMs closes it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { partners, counted, gauge, logs, changes } = setUp({ breakerFailures: 2, halfOpenMs: 1_000 });
    const on = { event: 'provision', job: 'p1-provision' };
    for (let i = 0; i < 2; i++) await expect(partners.call(URL_A, on, outage)).rejects.toThrow(/answered 503/);
    expect(await gauge()).toBe(1);
    expect(partners.statuses()).toEqual([
      expect.objectContaining({ partner: A, state: 'open', recentFailures: 2, lastFailure: expect.anything() }),
    ]);

    const sent = vi.fn(() => Promise.resolve('ok'));
    await expect(partners.call(URL_A, on, sent)).rejects.toBeInstanceOf(PartnerRefusedError);
    await expect(partners.call(URL_A, { ...on, event: 'deprovision' }, sent)).rejects.toMatchObject({ why: 'open' });
    expect(sent).not.toHaveBeenCalled();
    expect(await counted('rejected-open')).toBe(2);

    vi.setSystemTime(Date.now() + 1_001);
    const [probe, sentProbe] = [pending(), pending<void>()];
    const probing = partners.call(URL_A, on, () => {
      sentProbe.answer();
      return probe.promise;
    });
    await sentProbe.promise;
    expect(await gauge()).toBe(2);
    // While the probe is out, other calls are refused rather than queued behind it.
    await expect(partners.call(URL_A, { ...on, job: 'p2-provision' }, sent)).rejects.toMatchObject({ why: 'open' });
    probe.answer('ok');
    await expect(probing).resolves.toBe('ok');
    expect(await gauge()).toBe(0);
    await expect(partners.call(URL_A, on, sent)).resolves.toBe('ok');

    // One log line and one published change per transition, none per call.
    expect(logs.filter((l) => l.partner === A).map((l) => l.msg)).toEqual([
      'partner circuit open: its calls fail fast until a probe',
      'partner circuit half-open: one probe goes through',
      'partner circuit closed: calls go through again',
    ]);
    expect(changes.map((c) => c.state)).toEqual(['closed', 'open', 'half-open', 'closed']);
  });

  it('a probe that fails opens it again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { partners, gauge } = setUp({ breakerFailures: 1, halfOpenMs: 1_000 });
    const on = { event: 'provision', job: 'p1-provision' };
    await expect(partners.call(URL_A, on, outage)).rejects.toThrow();
    vi.setSystemTime(Date.now() + 1_001);
    await expect(partners.call(URL_A, on, outage)).rejects.toThrow(/answered 503/);
    expect(await gauge()).toBe(1);
    await expect(partners.call(URL_A, on, () => Promise.resolve('ok'))).rejects.toMatchObject({ why: 'open' });
  });

  it("a 4xx answer is the partner's word, not an outage: it never opens the circuit", async () => {
    const { partners, counted, gauge } = setUp({ breakerFailures: 2 });
    const on = { event: 'deprovision', job: 'p1-deprovision' };
    for (let i = 0; i < 5; i++)
      await expect(
        partners.call(URL_A, on, () => Promise.reject(new OutsideServiceError('answered 404', 404))),
      ).rejects.toThrow(/404/);
    expect(await gauge()).toBe(0);
    expect(await counted('refused')).toBe(5);
    expect(partners.statuses()[0]).toMatchObject({ state: 'closed', recentFailures: 0 });
  });

  it('counts timeouts, 5xx, 429 and unreachable partners as outages', async () => {
    const { partners, counted, gauge } = setUp({ breakerFailures: 3 });
    const on = { event: 'provision', job: 'p1-provision' };
    const fails = (err: OutsideServiceError) => partners.call(URL_A, on, () => Promise.reject(err));
    await expect(fails(new OutsideServiceError('timed out', undefined, true))).rejects.toThrow();
    await expect(fails(new OutsideServiceError('answered 429', 429))).rejects.toThrow();
    expect(await gauge()).toBe(0);
    await expect(fails(new OutsideServiceError('unreachable'))).rejects.toThrow();
    expect(await gauge()).toBe(1);
    expect([await counted('timeout'), await counted('failed')]).toEqual([1, 2]);
  });
});
