import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/logger.js';
import { shutDown, type ShutdownStep } from '../../src/shutdown.js';

/** src/shutdown.ts: a process stops within its budget, forcing what hangs, and says which step it was. */

const never = () => new Promise<never>(() => {});
const after = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A step that records what happened to it. */
function step(name: string, run: () => Promise<unknown>, force = true) {
  const calls: string[] = [];
  const s: ShutdownStep & { calls: string[] } = {
    name,
    calls,
    run: () => (calls.push('run'), run()),
    ...(force ? { force: () => calls.push('force') } : {}),
  };
  return s;
}

function logger() {
  const warnings: [Record<string, unknown>, string][] = [];
  const log = { warn: (fields: Record<string, unknown>, msg: string) => warnings.push([fields, msg]) };
  return { log: log as unknown as Logger, warnings };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('shutDown', () => {
  it('runs every step in order, politely, when each ends in time', async () => {
    const order: string[] = [];
    const steps = ['http', 'workers', 'redis'].map((name) =>
      step(name, async () => {
        order.push(name);
        await after(10);
      }),
    );
    const { log, warnings } = logger();
    const done = shutDown(steps, 1_000, log);
    await vi.advanceTimersByTimeAsync(30);
    await done;
    expect(order).toEqual(['http', 'workers', 'redis']);
    expect(steps.map((s) => s.calls)).toEqual([['run'], ['run'], ['run']]);
    expect(warnings).toEqual([]);
  });

  it('a step that fails is logged by name and forced; the next ones still run politely', async () => {
    const failing = step('queues', () => Promise.reject(new Error('connection is closed')));
    const next = step('redis', () => Promise.resolve());
    const { log, warnings } = logger();
    await shutDown([failing, next], 1_000, log);
    expect(failing.calls).toEqual(['run', 'force']);
    expect(next.calls).toEqual(['run']);
    expect(warnings).toEqual([[{ step: 'queues', err: 'connection is closed' }, 'shutdown step failed']]);
  });

  it('a step that hangs is forced once the budget is spent, and the steps after it are forced at once', async () => {
    const hanging = step('workers', never);
    const later = step('redis', () => Promise.resolve());
    const { log, warnings } = logger();
    let ended = false;
    const done = shutDown([hanging, later], 2_000, log).then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(ended).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(hanging.calls).toEqual(['run', 'force']);
    // No budget left: not run, only forced.
    expect(later.calls).toEqual(['force']);
    expect(warnings.map(([fields, msg]) => [fields.step, msg])).toEqual([
      ['workers', 'shutdown step out of time; forced'],
      ['redis', 'shutdown step out of time; forced'],
    ]);
    expect(warnings[0]![0].ms).toBe(2_000);
  });

  it('a force that does not end within a second is logged, and the stop goes on', async () => {
    const stuck: ShutdownStep = { name: 'server', run: never, force: never };
    const last = step('redis', () => Promise.resolve());
    const { log, warnings } = logger();
    const done = shutDown([stuck, last], 500, log);
    await vi.advanceTimersByTimeAsync(500 + 1_000);
    await done;
    expect(warnings.map(([fields, msg]) => [fields.step, msg])).toEqual([
      ['server', 'shutdown step out of time; forced'],
      ['server', 'shutdown step still not closed after force'],
      ['redis', 'shutdown step out of time; forced'],
    ]);
  });

  it('a force that throws is logged the same way; a step with no force is only logged', async () => {
    const throwing: ShutdownStep = {
      name: 'sse',
      run: () => Promise.reject(new Error('x')),
      force: () => {
        throw new Error('already closed');
      },
    };
    const plain = step('metrics', () => Promise.reject(new Error('y')), false);
    const { log, warnings } = logger();
    await shutDown([throwing, plain], 1_000, log);
    expect(warnings.map(([fields, msg]) => [fields.step, msg])).toEqual([
      ['sse', 'shutdown step failed'],
      ['sse', 'shutdown step still not closed after force'],
      ['metrics', 'shutdown step failed'],
    ]);
    expect(plain.calls).toEqual(['run']);
  });
});
