import { describe, expect, it } from 'vitest';
import type { PurchaseRecord, StepStatus, UndoState } from '../../src/purchase/record.js';
import { STEP_NAMES, type StepName } from '../../src/saga/saga.js';
import { afterUndo, atDeadline, atRoot, atSettle, beforeStep, compensationPlan, type JobStates } from '../../src/saga/transitions.js';

/** A record with the first `done` steps completed and the given overrides. */
function record(done: number, over: Partial<PurchaseRecord> & { stepsOver?: Partial<Record<StepName, StepStatus>> } = {}): PurchaseRecord {
  const { stepsOver, ...rest } = over;
  const steps = Object.fromEntries(STEP_NAMES.map((name, i) => [name, i < done ? 'completed' : 'pending']));
  return {
    id: 'pur_1',
    customerId: 'c1',
    status: 'processing',
    phase: 'running',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    request: { items: [{ productId: 'p', quantity: 1 }], outOfStock: 'remove', paymentToken: 'tok_visa', roles: [] },
    payment: { status: 'captured', amount: 100, currency: 'USD' },
    steps: { ...steps, ...stepsOver },
    undos: {},
    ...rest,
  };
}
const at = '2026-01-01T00:00:01.000Z';
const undo = (status: UndoState['status']): UndoState => ({ status, attempts: 1, at });
const names = (steps: { name: string }[]) => steps.map((s) => s.name);

describe('beforeStep: the step runner asks before every step', () => {
  it.each([
    ['a completed step is not run again, whatever the phase', record(3, { phase: 'compensating' }), 'payment', { do: 'already' }],
    ['the next step of a running saga runs', record(2), 'payment', { do: 'run' }],
    ['the first step runs', record(0), 'validation', { do: 'run' }],
    ['a compensating saga skips what is left', record(2, { phase: 'compensating' }), 'payment', { do: 'skip' }],
    ['an ended saga skips what is left', record(2, { phase: 'done' }), 'payment', { do: 'skip' }],
  ] as const)('%s', (_, r, step, expected) => {
    expect(beforeStep(r, step)).toEqual(expected);
  });

  it('blames the predecessor that never recorded an outcome (its job crashed), with its own failure code', () => {
    expect(beforeStep(record(2), 'inventory_update')).toEqual({
      do: 'blame',
      step: 'payment',
      error: { code: 'payment_failed', detail: 'payment did not complete', step: 'payment' },
    });
  });
});

describe('atRoot: the flow root finishes or compensates', () => {
  it.each([
    ['an ended purchase is left alone', record(7, { phase: 'done', status: 'completed' }), undefined, { do: 'nothing' }],
    ['a failing purchase is compensated', record(3, { phase: 'compensating' }), undefined, { do: 'compensate' }],
    ['every step before the root done: completed', record(6), undefined, { do: 'finish', status: 'completed' }],
    [
      'with a line out of stock: partially fulfilled',
      record(6, { allocation: ['fulfilled', 'out_of_stock'] }),
      undefined,
      { do: 'finish', status: 'partially_fulfilled' },
    ],
    ['stuck before the root: the order decides, so ask for it', record(5), undefined, { do: 'check-order' }],
    [
      'stuck at the pivot with an order in the OMS: the order is adopted, the purchase completes',
      record(5),
      'ord_1',
      { do: 'finish', status: 'completed', adoptOrder: 'ord_1' },
    ],
  ] as const)('%s', (_, r, order, expected) => {
    expect(atRoot(r, order)).toEqual(expected);
  });

  it('stuck with no order: the unfinished step is blamed and the purchase compensated', () => {
    expect(atRoot(record(4), null)).toEqual({
      do: 'compensate',
      blame: { step: 'provisioning', error: { code: 'purchase_failed', detail: 'provisioning did not complete', step: 'provisioning' } },
    });
  });
});

describe('compensationPlan: money and stock apart from outside systems', () => {
  it('a failure at the order undoes every completed step: money and stock side by side, the partner cleanup beside them', () => {
    const plan = compensationPlan(record(5, { phase: 'compensating', stepsOver: { order_placement: 'failed' } }));
    expect(plan.skip).toEqual(['notification']);
    expect(names(plan.money)).toEqual(['inventory_update', 'payment', 'stock_check']);
    expect(names(plan.outside)).toEqual(['provisioning']);
  });

  it('the failed step itself is undone too: it may have done part of its work', () => {
    const plan = compensationPlan(record(4, { phase: 'compensating', stepsOver: { provisioning: 'failed' } }));
    expect(names(plan.outside)).toEqual(['provisioning']);
    expect(plan.skip).toEqual(['order_placement', 'notification']);
  });

  it('a declined payment releases the stock and asks the provider about the charge, nothing else', () => {
    const plan = compensationPlan(record(2, { phase: 'compensating', stepsOver: { payment: 'failed' } }));
    expect(names(plan.money)).toEqual(['payment', 'stock_check']);
    expect(plan.outside).toEqual([]);
  });

  it('a validation failure undoes nothing and skips the rest', () => {
    const plan = compensationPlan(record(0, { phase: 'compensating', stepsOver: { validation: 'failed' } }));
    expect([...plan.money, ...plan.outside]).toEqual([]);
    expect(plan.skip).toEqual(STEP_NAMES.slice(1));
  });

  it('an undo that already ended is not planned again (re-driven compensation)', () => {
    const plan = compensationPlan(
      record(5, {
        phase: 'compensating',
        stepsOver: { order_placement: 'failed' },
        undos: { payment: undo('done'), provisioning: undo('failed') },
      }),
    );
    expect(names(plan.money)).toEqual(['inventory_update', 'stock_check']);
    expect(plan.outside).toEqual([]);
  });
});

describe('atSettle: the purchase ends once its money and stock are back', () => {
  const compensated = {
    stock_check: 'compensated',
    payment: 'compensated',
    inventory_update: 'compensated',
    order_placement: 'failed',
  } as const;

  it('ends failed with its error, without waiting for an outside undo still running', () => {
    const r = record(5, {
      phase: 'compensating',
      error: { code: 'purchase_failed', detail: 'x', step: 'order_placement' },
      stepsOver: compensated,
      undos: { provisioning: undo('retrying') },
    });
    expect(atSettle(r)).toEqual({ do: 'fail', error: { code: 'purchase_failed', detail: 'x', step: 'order_placement' } });
  });

  it('flags a review when money or stock could not be returned', () => {
    const r = record(5, { phase: 'compensating', stepsOver: { ...compensated, payment: 'completed' } });
    expect(atSettle(r)).toMatchObject({ do: 'fail', review: 'not compensated: payment' });
  });

  it('keeps the review an undo already recorded, and does nothing once ended', () => {
    expect(
      atSettle(record(5, { phase: 'compensating', stepsOver: compensated, review: 'compensation of provisioning failed: down' })),
    ).toMatchObject({ review: 'compensation of provisioning failed: down' });
    expect(atSettle(record(5, { phase: 'done', status: 'failed' }))).toEqual({ do: 'nothing' });
  });
});

describe('afterUndo: each attempt of an undo shows on the purchase', () => {
  const r = record(5, {
    phase: 'done',
    status: 'failed',
    stepsOver: { order_placement: 'failed' },
    undos: { provisioning: undo('retrying') },
  });

  it.each([
    [
      'undone: done, the step compensated',
      { ok: true, undid: true } as const,
      { undo: { status: 'done', attempts: 2, at }, stepStatus: 'compensated' },
    ],
    [
      'a completed step with nothing left to undo is still compensated',
      { ok: true, undid: false } as const,
      { undo: { status: 'done', attempts: 2, at }, stepStatus: 'compensated' },
    ],
    [
      'a failed attempt with attempts left: retrying, with its error',
      { ok: false, final: false, error: 'down' } as const,
      { undo: { status: 'retrying', attempts: 2, error: 'down', at } },
    ],
    [
      'the last attempt failed: failed for good, a review',
      { ok: false, final: true, error: 'down' } as const,
      { undo: { status: 'failed', attempts: 2, error: 'down', at }, review: 'compensation of provisioning failed: down' },
    ],
  ])('%s', (_, outcome, expected) => {
    expect(afterUndo(r, 'provisioning', outcome, 2, at)).toEqual(expected);
  });

  it('a failed step whose undo found nothing stays failed', () => {
    const failed = record(4, { phase: 'compensating', stepsOver: { provisioning: 'failed' } });
    expect(afterUndo(failed, 'provisioning', { ok: true, undid: false }, 1, at)).toEqual({ undo: { status: 'done', attempts: 1, at } });
  });
});

describe('atDeadline: the watchdog, for a purchase open past its deadline', () => {
  const idle: JobStates = { saga: ['completed', 'unknown', 'failed'], undos: {} };
  const moving: JobStates = { saga: ['completed', 'active'], undos: {} };

  it.each([
    ['a vanished record is closed', undefined, idle, undefined, { do: 'close' }],
    [
      'an ended purchase with nothing running is closed',
      record(7, { phase: 'done', status: 'completed' }),
      idle,
      undefined,
      { do: 'close' },
    ],
    ['a job still moves it: slow, not stuck', record(3), moving, undefined, { do: 'wait' }],
    ['nothing moves it and the order is unknown: ask for it', record(5), idle, undefined, { do: 'check-order' }],
    ['the order exists: complete it, never compensate', record(5), idle, 'ord_1', { do: 'complete' }],
    ['the pivot is recorded: complete it without asking', record(6), idle, undefined, { do: 'complete' }],
    [
      'compensating but nothing moves it: re-drive compensation',
      record(3, { phase: 'compensating' }),
      idle,
      undefined,
      { do: 'redrive-compensation' },
    ],
    [
      'an outside undo still running after the end: wait',
      record(5, { phase: 'done', undos: { provisioning: undo('retrying') } }),
      { saga: [], undos: { provisioning: 'delayed' } },
      undefined,
      { do: 'wait' },
    ],
    [
      'an outside undo whose job vanished is re-added; one that ended without recording it is a review',
      record(5, { phase: 'done', undos: { provisioning: undo('pending') } }),
      { saga: [], undos: { provisioning: 'unknown' } },
      undefined,
      { do: 'repair-undos', redrive: ['provisioning'], failed: [] },
    ],
    [
      'a stalled-out outside undo is a review',
      record(5, { phase: 'done', undos: { provisioning: undo('retrying') } }),
      { saga: [], undos: { provisioning: 'failed' } },
      undefined,
      { do: 'repair-undos', redrive: [], failed: ['provisioning'] },
    ],
  ] as const)('%s', (_, r, jobs, order, expected) => {
    expect(atDeadline(r, jobs, order)).toEqual(expected);
  });

  it('running with no order and nothing moving: the unfinished step is blamed, "in time"', () => {
    expect(atDeadline(record(3), idle, null)).toEqual({
      do: 'compensate',
      blame: {
        step: 'inventory_update',
        error: { code: 'purchase_failed', detail: 'inventory_update did not complete in time', step: 'inventory_update' },
      },
    });
  });
});
