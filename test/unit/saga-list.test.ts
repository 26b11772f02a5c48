import { describe, expect, it } from 'vitest';
import { defineStep, type UndoableStep } from '../../src/saga/define-step.js';
import { redoJobs } from '../../src/saga/flows.js';
import { deriveSaga, REPAIRABLE, SAGA, type Stage } from '../../src/saga/saga.js';
import { sagaHandlers } from '../../src/saga/handlers.js';
import type { SagaContext } from '../../src/saga/context.js';
import { validation } from '../../src/saga/steps/validation.js';

/** A step added the way README says: one step value and one line in a saga list. */
const loyalty = defineStep({
  name: 'loyalty_points',
  failure: 'purchase_failed',
  fault: 'loyalty.award',
  invoke: async () => ({}),
  compensate: { job: 'revoke', run: async () => true },
  // Repairable: it can tell its points were lost, and puts them back by a job of its own (an outside call).
  repair: { job: 'reaward', lost: async () => true },
});
const withLoyalty = [
  SAGA[0],
  { ...SAGA[1], steps: [...SAGA[1].steps, loyalty] },
  SAGA[2],
  SAGA[3],
] as const satisfies readonly Stage[];

// Compensation plans only UndoableSteps: a step without an undo cannot be planned as one.
// @ts-expect-error validation has no compensate
const notUndoable: UndoableStep = validation;

describe('the saga list is the one place a step is added', () => {
  it('derives the step order, the undoable steps and the fault points from the list', () => {
    const saga = deriveSaga(withLoyalty);
    expect(saga.names).toEqual([
      'validation',
      'stock_check',
      'payment',
      'inventory_update',
      'loyalty_points',
      'provisioning',
      'order_placement',
      'notification',
    ]);
    expect(saga.undoable.map((s) => s.name)).toContain('loyalty_points');
    expect(saga.stageOf(loyalty).queue).toBe('payment');
    expect(saga.faultPoints).toContain('loyalty.award');
    expect(saga.repairable.map((s) => s.name)).toEqual([
      'loyalty_points',
      'provisioning',
      'order_placement',
      'notification',
    ]);
    expect(notUndoable).toBe(validation);
  });

  it("derives the handler table: the new step's undo job on its stage's queue, beside the others", () => {
    const handlers = sagaHandlers({ stores: {} } as SagaContext, withLoyalty);
    expect(Object.keys(handlers.payment!).sort()).toEqual(['charge', 'reaward', 'refund', 'restock', 'revoke']);
    // Beside the saga's own: the order-cancel saga's hand-off and settle (built from the same undos).
    expect(Object.keys(handlers.orchestrator!).sort()).toEqual([
      'cancel-order',
      'complete',
      'release',
      'settle',
      'settle-order',
      'start',
    ]);
    // And the operator retry's re-provisioning of a completed purchase's lost units.
    expect(Object.keys(handlers.provisioning!).sort()).toEqual(['deprovision', 'fulfil', 'reprovision']);
  });

  it("the saga's own repairable steps: what an operator's retry can put back after a failover lost it", () => {
    expect(REPAIRABLE.map((s) => [s.name, s.repair.job])).toEqual([
      ['provisioning', 'reprovision'],
      ['order_placement', undefined],
      ['notification', undefined],
    ]);
    // An operator's retry adds the queued ones on their stage's queue, under a fresh id each time.
    expect(redoJobs('pur_00abc', REPAIRABLE, { attempts: 3, backoffMs: 10 }, 7)).toEqual([
      expect.objectContaining({
        name: 'reprovision',
        queueName: 'provisioning',
        opts: expect.objectContaining({ jobId: 'pur_00abc-reprovision-7' }),
      }),
    ]);
  });

  it("handles the stages of the saga it is given, not the product's own", () => {
    const renamed = [SAGA[0], { ...SAGA[1], job: 'charge-v2' }, SAGA[2], SAGA[3]] as const satisfies readonly Stage[];
    const handlers = sagaHandlers({ stores: {} } as SagaContext, renamed);
    expect(Object.keys(handlers.payment!).sort()).toEqual(['charge-v2', 'refund', 'restock']);
  });

  it('refuses two jobs of one name on one queue at start-up, instead of running the wrong one', () => {
    const clash = defineStep({ ...loyalty, name: 'clash', compensate: { job: 'refund', run: async () => true } });
    const saga = [
      SAGA[0],
      { ...SAGA[1], steps: [...SAGA[1].steps, clash] },
      SAGA[2],
      SAGA[3],
    ] as const satisfies readonly Stage[];
    expect(() => sagaHandlers({ stores: {} } as SagaContext, saga)).toThrow('two saga jobs named payment/refund');
  });
});
