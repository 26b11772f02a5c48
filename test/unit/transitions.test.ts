import { describe, expect, it } from 'vitest';
import { reviewStatus, type PurchaseRecord, type StepStatus, type UndoState } from '../../src/purchase/record.js';
import { STEP_NAMES, type StepName } from '../../src/saga/saga.js';
import {
  afterPivotClaim,
  afterPivotWait,
  afterUndo,
  atCancelRequest,
  atClaimedPivot,
  atDeadline,
  atOrderCancel,
  atOrderSettle,
  atRetry,
  atRoot,
  atSettle,
  beforeStep,
  compensationPlan,
  type JobStates,
} from '../../src/saga/transitions.js';

/** A record with the first `done` steps completed and the given overrides. */
function record(
  done: number,
  over: Partial<PurchaseRecord> & { stepsOver?: Partial<Record<StepName, StepStatus>> } = {},
): PurchaseRecord {
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
    [
      'a completed step is not run again, whatever the phase',
      record(3, { phase: 'compensating' }),
      'payment',
      { do: 'already' },
    ],
    ['the next step of a running saga runs', record(2), 'payment', { do: 'run' }],
    ['the first step runs', record(0), 'validation', { do: 'run' }],
    ['a compensating saga skips what is left', record(2, { phase: 'compensating' }), 'payment', { do: 'skip' }],
    ['an ended saga skips what is left', record(2, { phase: 'done' }), 'payment', { do: 'skip' }],
    [
      'a cancel requested stops the running saga at its next step',
      record(2, { cancelRequestedAt: at }),
      'payment',
      { do: 'cancel' },
    ],
    [
      'a cancel requested before the first step stops it there',
      record(0, { cancelRequestedAt: at }),
      'validation',
      { do: 'cancel' },
    ],
    [
      'a step completed before the cancel is not run again (its undo will be planned)',
      record(3, { cancelRequestedAt: at }),
      'payment',
      { do: 'already' },
    ],
    [
      'a cancel requested while compensating changes nothing: the rest is skipped',
      record(2, { phase: 'compensating', cancelRequestedAt: at }),
      'payment',
      { do: 'skip' },
    ],
    ['the pivot is claimed before it runs, against a cancel', record(5), 'order_placement', { do: 'claim-pivot' }],
    ['a pivot already claimed (a retry) runs', record(5, { pivotClaimedAt: at }), 'order_placement', { do: 'run' }],
    [
      'a cancel already seen at the pivot cancels without claiming',
      record(5, { cancelRequestedAt: at }),
      'order_placement',
      { do: 'cancel' },
    ],
  ] as const)('%s', (_, r, step, expected) => {
    expect(beforeStep(r, step)).toEqual(expected);
  });

  it.each([
    ['claimed: the order is placed, a later cancel is refused', 'claimed', { do: 'run' }],
    ['the cancel was recorded first: the saga stops at the pivot', 'canceled', { do: 'cancel' }],
    ['the saga stopped meanwhile (the watchdog): skip', 'stopped', { do: 'skip' }],
    ['the record vanished: skip', 'missing', { do: 'skip' }],
  ] as const)('afterPivotClaim — %s', (_, claim, expected) => {
    expect(afterPivotClaim(claim)).toEqual(expected);
  });
});

describe('atCancelRequest: what the customer is answered, from the one script that decides the race', () => {
  it.each([
    ['recorded now: wait for canceled (SYNC_TIMEOUT_MS)', 'requested', { do: 'wait' }],
    ['recorded before (a second cancel while it runs): wait too', 'already-requested', { do: 'wait' }],
    ['already canceled: show it (200)', 'canceled', { do: 'show' }],
    ["the pivot won: whether the order is placed is the record's to say", 'placed', { do: 'pivot-claimed' }],
    ['ended completed or failed: not_cancelable', 'finished', { do: 'refuse', why: 'finished' }],
    ['failing by itself: not_cancelable', 'failing', { do: 'refuse', why: 'failing' }],
    ['no record: not_found', 'missing', { do: 'not-found' }],
  ] as const)('%s', (_, outcome, expected) => {
    expect(atCancelRequest(outcome)).toEqual(expected);
  });

  const claimed = (done: number, over: Parameters<typeof record>[1] = {}) =>
    record(done, { pivotClaimedAt: at, ...over });
  const failed = { phase: 'done', status: 'failed', stepsOver: { order_placement: 'failed' } } as const;
  const failing = { phase: 'compensating', stepsOver: { order_placement: 'failed' } } as const;

  it.each([
    [
      'the order is placed: not_cancelable, cancel the order',
      claimed(6, { orderId: 'ord_1' }),
      { do: 'refuse', why: 'placed' },
    ],
    [
      'completed: not_cancelable, cancel the order',
      claimed(7, { phase: 'done', status: 'completed', orderId: 'ord_1' }),
      { do: 'refuse', why: 'placed' },
    ],
    [
      'the order recorded before its step shows completed (adopted by the root): placed',
      claimed(5, { orderId: 'ord_1' }),
      { do: 'refuse', why: 'placed' },
    ],
    [
      'placing it failed for good and the purchase ended: it failed',
      claimed(5, failed),
      { do: 'refuse', why: 'finished' },
    ],
    ['claimed, not placed yet: wait for the outcome', claimed(5), { do: 'await-pivot' }],
    [
      'placing it failed and the purchase is being rolled back: wait for it to end',
      claimed(5, failing),
      { do: 'await-pivot' },
    ],
  ] as const)('atClaimedPivot — %s', (_, r, expected) => {
    expect(atClaimedPivot(r)).toEqual(expected);
  });

  it.each([
    ['the order was placed meanwhile: cancel the order', claimed(6, { orderId: 'ord_1' }), 'placed'],
    [
      'the purchase completed meanwhile',
      claimed(7, { phase: 'done', status: 'completed', orderId: 'ord_1' }),
      'placed',
    ],
    ['placing it failed for good: the purchase failed', claimed(5, failed), 'finished'],
    ['still rolling back at the bound: failing', claimed(5, failing), 'failing'],
    ['still undecided at the bound: being placed, never "placed"', claimed(5), 'placing'],
  ] as const)('afterPivotWait — %s', (_, r, why) => {
    expect(afterPivotWait(r)).toEqual({ do: 'refuse', why });
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
    ['an ended purchase is left alone', record(7, { phase: 'done', status: 'completed' }), null, { do: 'nothing' }],
    ['a failing purchase is compensated', record(3, { phase: 'compensating' }), null, { do: 'compensate' }],
    [
      'every step before the root done and the order in the OMS: completed',
      record(6),
      'ord_1',
      { do: 'finish', status: 'completed' },
    ],
    [
      'with a line out of stock: partially fulfilled',
      record(6, { allocation: ['fulfilled', 'out_of_stock'] }),
      'ord_1',
      { do: 'finish', status: 'partially_fulfilled' },
    ],
    [
      'every step done but the OMS has no order (its write was lost): placed again, the purchase completes',
      record(6),
      null,
      { do: 'finish', status: 'completed', replaceOrder: true },
    ],
    [
      'stuck at the pivot with an order in the OMS: the order is adopted, the purchase completes',
      record(5),
      'ord_1',
      { do: 'finish', status: 'completed', adoptOrder: 'ord_1' },
    ],
  ] as const)('%s', (_, r, order, expected) => {
    expect(atRoot(r, order)).toEqual(expected);
  });

  it('still running with a cancel requested (the step that would have seen it never ran): cancel', () => {
    expect(atRoot(record(4, { cancelRequestedAt: at }), null)).toEqual({ do: 'cancel' });
    expect(atRoot(record(4, { phase: 'compensating', cancelRequestedAt: at }), null)).toEqual({ do: 'compensate' });
  });

  it('stuck with no order: the unfinished step is blamed and the purchase compensated', () => {
    expect(atRoot(record(4), null)).toEqual({
      do: 'compensate',
      blame: {
        step: 'provisioning',
        error: { code: 'purchase_failed', detail: 'provisioning did not complete', step: 'provisioning' },
      },
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
    expect(atSettle(r)).toEqual({
      do: 'fail',
      error: { code: 'purchase_failed', detail: 'x', step: 'order_placement' },
    });
  });

  it('flags a review when money or stock could not be returned', () => {
    const r = record(5, { phase: 'compensating', stepsOver: { ...compensated, payment: 'completed' } });
    expect(atSettle(r)).toMatchObject({ do: 'fail', review: 'not compensated: payment' });
  });

  it('a canceled purchase ends canceled, not failed, once its money and stock are back', () => {
    expect(atSettle(record(5, { phase: 'compensating', cancelRequestedAt: at, stepsOver: compensated }))).toEqual({
      do: 'cancel',
    });
    expect(
      atSettle(
        record(5, {
          phase: 'compensating',
          cancelRequestedAt: at,
          stepsOver: { ...compensated, payment: 'completed' },
        }),
      ),
    ).toEqual({ do: 'cancel', review: 'not compensated: payment' });
  });

  it('keeps the review an undo already recorded, and does nothing once ended', () => {
    expect(
      atSettle(
        record(5, {
          phase: 'compensating',
          stepsOver: compensated,
          review: 'compensation of provisioning failed: down',
        }),
      ),
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
      {
        undo: { status: 'failed', attempts: 2, error: 'down', at },
        review: 'compensation of provisioning failed: down',
      },
    ],
  ])('%s', (_, outcome, expected) => {
    expect(afterUndo(r, 'provisioning', outcome, 2, at)).toEqual(expected);
  });

  it('a failed step whose undo found nothing stays failed', () => {
    const failed = record(4, { phase: 'compensating', stepsOver: { provisioning: 'failed' } });
    expect(afterUndo(failed, 'provisioning', { ok: true, undid: false }, 1, at)).toEqual({
      undo: { status: 'done', attempts: 1, at },
    });
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
    [
      'an order cancel whose undos ended but whose settle-order never ran: settle it',
      record(7, { phase: 'done', status: 'completed', orderCancelRequestedAt: at, undos: { payment: undo('done') } }),
      { saga: [], undos: {}, orderCancel: ['completed', 'unknown'] },
      undefined,
      { do: 'settle-order' },
    ],
    [
      'an order cancel still settling: wait',
      record(7, { phase: 'done', status: 'completed', orderCancelRequestedAt: at }),
      { saga: [], undos: {}, orderCancel: ['completed', 'waiting-children'] },
      undefined,
      { do: 'wait' },
    ],
    [
      'an order cancel that ended: closed',
      record(7, { phase: 'done', status: 'completed', orderCancelRequestedAt: at, orderCanceledAt: at }),
      { saga: [], undos: {}, orderCancel: ['completed', 'completed'] },
      undefined,
      { do: 'close' },
    ],
  ] as const)('%s', (_, r, jobs, order, expected) => {
    expect(atDeadline(r, jobs, order)).toEqual(expected);
  });

  it('running with no order and nothing moving: the unfinished step is blamed, "in time"', () => {
    expect(atDeadline(record(3), idle, null)).toEqual({
      do: 'compensate',
      blame: {
        step: 'inventory_update',
        error: {
          code: 'purchase_failed',
          detail: 'inventory_update did not complete in time',
          step: 'inventory_update',
        },
      },
    });
  });
});

describe('afterUndo in review: the undo that leaves nothing undone resolves the review', () => {
  it('resolves by retry when every other undo is done; not while one is still failed', () => {
    const inReview = record(5, {
      phase: 'done',
      status: 'failed',
      review: 'compensation of provisioning failed: down',
      undos: { payment: undo('done'), provisioning: undo('pending') },
    });
    expect(afterUndo(inReview, 'provisioning', { ok: true, undid: true }, 1, at).resolution).toEqual({
      how: 'retry',
      by: 'retry',
      at,
    });
    const other = { ...inReview, undos: { payment: undo('failed'), provisioning: undo('pending') } };
    expect(afterUndo(other, 'provisioning', { ok: true, undid: true }, 1, at).resolution).toBeUndefined();
    const resolved = { ...inReview, reviewResolution: { how: 'manual' as const, by: 'ops', at } };
    expect(afterUndo(resolved, 'provisioning', { ok: true, undid: true }, 1, at).resolution).toBeUndefined();
  });
});

describe('atRetry: an operator retry runs again what is left undone', () => {
  it.each([
    [
      'undos that failed for good run again',
      record(5, {
        phase: 'done',
        status: 'failed',
        review: 'x',
        undos: { payment: undo('failed'), provisioning: undo('failed') },
      }),
      { do: 'redo-undos', steps: ['payment', 'provisioning'] },
    ],
    ['a saga still running is re-driven (the watchdog, now)', record(3), { do: 'reconcile' }],
    [
      'an undo still open is re-driven',
      record(5, { phase: 'done', undos: { provisioning: undo('retrying') } }),
      { do: 'reconcile' },
    ],
    [
      'in review with nothing left undone: resolved',
      record(7, { phase: 'done', status: 'completed', review: 'x' }),
      { do: 'resolve' },
    ],
    ['nothing to do', record(7, { phase: 'done', status: 'completed' }), { do: 'nothing' }],
  ] as const)('%s', (_, r, expected) => {
    expect(atRetry(r)).toEqual(expected);
  });

  it('a delivered purchase that lost what repairable steps did has those steps redone; not once its order is canceled', () => {
    const order = ['order_placement'] as const;
    const units = ['provisioning'] as const;
    const confirmations = ['notification'] as const;
    const all = ['provisioning', 'order_placement', 'notification'] as const;
    expect(atRetry(record(7, { phase: 'done', status: 'completed' }), order)).toEqual({ do: 'repair', steps: order });
    expect(atRetry(record(7, { phase: 'done', status: 'completed' }), units)).toEqual({ do: 'repair', steps: units });
    expect(atRetry(record(7, { phase: 'done', status: 'partially_fulfilled' }), units)).toEqual({
      do: 'repair',
      steps: units,
    });
    expect(atRetry(record(7, { phase: 'done', status: 'completed' }), confirmations)).toEqual({
      do: 'repair',
      steps: confirmations,
    });
    expect(atRetry(record(7, { phase: 'done', status: 'completed', review: 'x' }), all)).toEqual({
      do: 'repair',
      steps: all,
    });
    expect(atRetry(record(7, { phase: 'done', status: 'completed', orderCancelRequestedAt: at }), all)).toEqual({
      do: 'nothing',
    });
    expect(atRetry(record(5, { phase: 'done', status: 'failed' }), all)).toEqual({ do: 'nothing' });
  });

  it('an ended undone purchase whose undo the outside world no longer shows has it run again; a delivered one not', () => {
    const payment = ['payment'] as const;
    const failed = record(5, { phase: 'done', status: 'failed', undos: { payment: undo('done') } });
    expect(atRetry(failed, [], payment)).toEqual({ do: 'redo-undos', steps: payment });
    const canceledOrder = record(7, { phase: 'done', status: 'completed', orderCancelRequestedAt: at });
    expect(atRetry(canceledOrder, [], payment)).toEqual({ do: 'redo-undos', steps: payment });
    expect(atRetry(record(7, { phase: 'done', status: 'completed' }), [], payment)).toEqual({ do: 'nothing' });
    // Still compensating: the watchdog's re-drive comes first.
    expect(atRetry(record(5, { phase: 'compensating', status: 'processing' }), [], payment)).toEqual({
      do: 'reconcile',
    });
  });
});

describe('atOrderCancel and atOrderSettle: the order-cancel saga is the purchase compensation plan', () => {
  const completed = record(7, { phase: 'done', status: 'completed' });
  const now = Date.parse('2026-01-10T00:00:00.000Z');
  const order = (createdAt: string, status = 'placed') => ({ status, createdAt });

  it.each([
    ['already canceled: show it', order('2026-01-09T00:00:00.000Z', 'canceled'), completed, { do: 'show' }],
    ['past the window: refused', order('2025-12-01T00:00:00.000Z'), completed, { do: 'refuse', why: 'window' }],
    [
      'its purchase record is gone: refused',
      order('2026-01-09T00:00:00.000Z'),
      undefined,
      { do: 'refuse', why: 'gone' },
    ],
    [
      'within the window: every undo of the purchase, money and stock first, the partner beside them',
      order('2026-01-09T00:00:00.000Z'),
      completed,
      { do: 'start', undos: ['inventory_update', 'payment', 'stock_check', 'provisioning'] },
    ],
  ] as const)('%s', (_, o, r, expected) => {
    expect(atOrderCancel(o, r, now, 14 * 86_400)).toEqual(expected);
  });

  it('settles once the money is back, flagging a review when it is not; nothing without a request or once canceled', () => {
    const requested = { ...completed, orderCancelRequestedAt: at };
    const undone = { stock_check: 'compensated', payment: 'compensated', inventory_update: 'compensated' } as const;
    expect(atOrderSettle({ ...requested, steps: { ...requested.steps, ...undone } }, 'placed')).toEqual({
      do: 'cancel-order',
    });
    expect(
      atOrderSettle({ ...requested, steps: { ...requested.steps, ...undone, payment: 'completed' } }, 'placed'),
    ).toEqual({
      do: 'cancel-order',
      review: 'not compensated: payment',
    });
    expect(atOrderSettle(completed, 'placed')).toEqual({ do: 'nothing' });
    expect(atOrderSettle(requested, 'canceled')).toEqual({ do: 'nothing' });
  });
});

describe('reviewStatus: a resolution holds until an undo fails after it', () => {
  const failedAt = (t: string): UndoState => ({ status: 'failed', attempts: 5, error: 'down', at: t });
  it.each([
    ['never flagged: no review', record(7, { phase: 'done', status: 'completed' }), undefined],
    [
      'flagged: manual_review',
      record(5, { phase: 'done', status: 'failed', review: 'x', undos: { provisioning: failedAt(at) } }),
      'manual_review',
    ],
    [
      'resolved by hand after the failure: resolved',
      record(5, {
        phase: 'done',
        status: 'failed',
        review: 'x',
        undos: { provisioning: failedAt(at) },
        reviewResolution: { how: 'manual', by: 'ops', at: '2026-01-01T00:00:02.000Z' },
      }),
      'resolved',
    ],
    [
      'an undo failed for good after the resolution: back in review',
      record(5, {
        phase: 'done',
        status: 'failed',
        review: 'x',
        undos: { provisioning: failedAt('2026-01-01T00:00:03.000Z') },
        reviewResolution: { how: 'manual', by: 'ops', at: '2026-01-01T00:00:02.000Z' },
      }),
      'manual_review',
    ],
  ] as const)('%s', (_, r, expected) => {
    expect(reviewStatus(r)).toBe(expected);
  });
});
