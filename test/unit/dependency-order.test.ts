import { describe, expect, it } from 'vitest';
import { buildUp, tearDown, type UnitTree } from '../../src/saga/dependency-order.js';

/** src/saga/dependency-order.ts: the order the Product Provisioner acts on a purchase's units in. No Redis. */

/** Acts that end only when the test says, recording what started and what ended, in order. */
function controlled(failing: string[] = []) {
  const started: string[] = [];
  const ended: string[] = [];
  const pending = new Map<string, () => void>();
  const act = (unit: string) =>
    new Promise<void>((resolve, reject) => {
      started.push(unit);
      pending.set(unit, () => {
        ended.push(unit);
        if (failing.includes(unit)) reject(new Error(`${unit} failed`));
        else resolve();
      });
    });
  const settle = async () => new Promise((r) => setImmediate(r));
  /** Ends the acts in flight (all, or those named), then lets what they start begin. */
  const finish = async (...units: string[]) => {
    for (const unit of units.length ? units : [...pending.keys()]) {
      pending.get(unit)!();
      pending.delete(unit);
    }
    await settle();
  };
  return { act, started, ended, finish, inFlight: () => [...pending.keys()].sort(), settle };
}

const trees: UnitTree<string>[] = [
  { unit: 'app-1', dependencies: ['ip-1', 'disk-1'] },
  { unit: 'app-2', dependencies: ['ip-2'] },
  { unit: 'solo', dependencies: [] },
];

describe('buildUp', () => {
  it('starts every independent unit at once, and a unit once its own dependencies are done', async () => {
    const c = controlled();
    const done = buildUp(trees, c.act, 16);
    await c.settle();
    expect(c.inFlight()).toEqual(['disk-1', 'ip-1', 'ip-2', 'solo']);
    await c.finish('ip-2');
    expect(c.inFlight()).toEqual(['app-2', 'disk-1', 'ip-1', 'solo']);
    await c.finish('ip-1');
    expect(c.inFlight()).not.toContain('app-1');
    await c.finish();
    await c.finish();
    await done;
    expect(c.ended.sort()).toEqual(['app-1', 'app-2', 'disk-1', 'ip-1', 'ip-2', 'solo']);
  });

  it('has at most `limit` in flight', async () => {
    const c = controlled();
    const done = buildUp(trees, c.act, 2);
    let most = 0;
    for (let i = 0; i < 10 && c.ended.length < 6; i++) {
      await c.settle();
      most = Math.max(most, c.inFlight().length);
      await c.finish();
    }
    await done;
    expect(most).toBe(2);
    expect(c.ended).toHaveLength(6);
  });

  it('after a failure starts nothing new, waits for what is in flight, then throws the first failure', async () => {
    const c = controlled(['ip-1']);
    let outcome: unknown;
    const done = buildUp(trees, c.act, 16).catch((err: Error) => (outcome = err.message));
    await c.settle();
    await c.finish('ip-1');
    expect(outcome).toBeUndefined();
    await c.finish();
    await done;
    expect(outcome).toBe('ip-1 failed');
    expect(c.started.sort()).toEqual(['disk-1', 'ip-1', 'ip-2', 'solo']);
  });
});

describe('tearDown', () => {
  it('removes a unit before its dependencies, the trees side by side', async () => {
    const c = controlled();
    const done = tearDown(trees, c.act, 16);
    await c.settle();
    expect(c.inFlight()).toEqual(['app-1', 'app-2', 'solo']);
    await c.finish('app-1');
    expect(c.inFlight()).toEqual(['app-2', 'disk-1', 'ip-1', 'solo']);
    await c.finish();
    await c.finish();
    expect(await done).toEqual([]);
    expect(c.ended).toHaveLength(6);
  });

  it('keeps the dependencies of a unit that stays, removes everything else and answers every failure', async () => {
    const c = controlled(['app-1', 'solo']);
    const done = tearDown(trees, c.act, 16);
    await c.settle();
    await c.finish();
    await c.finish();
    const failures = await done;
    expect(failures.map((f) => [f.unit, (f.error as Error).message])).toEqual([
      ['app-1', 'app-1 failed'],
      ['solo', 'solo failed'],
    ]);
    expect(c.started.sort()).toEqual(['app-1', 'app-2', 'ip-2', 'solo']);
  });
});
