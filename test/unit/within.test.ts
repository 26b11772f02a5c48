import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { valueWithin, within } from '../../src/within.js';

/** src/within.ts: how a piece of work settled within a time budget, never waiting past it. */

const after = <T>(ms: number, settle: () => T) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(settle());
      } catch (err) {
        reject(err);
      }
    }, ms),
  );

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('within', () => {
  it('gives the value of work that succeeds in time', async () => {
    const outcome = within(
      after(10, () => 42),
      100,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(await outcome).toEqual({ value: 42 });
  });

  it('gives the error of work that fails in time, an Error even when something else was thrown', async () => {
    const failed = within(Promise.reject(new Error('redis gone')), 100);
    expect(await failed).toEqual({ error: new Error('redis gone') });
    const odd = await within(Promise.reject('just a string'), 100);
    expect(odd !== 'late' && 'error' in odd && odd.error).toBeInstanceOf(Error);
    expect(odd !== 'late' && 'error' in odd && odd.error.message).toBe('just a string');
  });

  it("answers 'late' at the deadline without waiting for the work", async () => {
    let settled = false;
    const outcome = within(
      after(10_000, () => 'slow'),
      100,
    ).then((o) => ((settled = true), o));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBe('late');
  });

  it('work that fails after the deadline is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const outcome = within(
        after(500, () => {
          throw new Error('too late to matter');
        }),
        100,
      );
      await vi.advanceTimersByTimeAsync(100);
      expect(await outcome).toBe('late');
      await vi.advanceTimersByTimeAsync(400);
      vi.useRealTimers();
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('leaves no timer behind once the work settled, so it holds no process open', async () => {
    await within(Promise.resolve('quick'), 60_000);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('valueWithin', () => {
  it('the value in time; undefined for a failure or past the deadline', async () => {
    expect(await valueWithin(Promise.resolve(7), 100)).toBe(7);
    expect(await valueWithin(Promise.reject(new Error('no')), 100)).toBeUndefined();
    const late = valueWithin(
      after(1_000, () => 7),
      100,
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(await late).toBeUndefined();
  });
});
