import type { PurchaseError, PurchaseRecord } from '../purchase/record.js';
import type { SagaContext } from './context.js';
import { compensationFlows } from './flows.js';
import { compensationPlan } from './transitions.js';

/**
 * Starts (or resumes) compensation, the one way every caller does it: the root, a first
 * stage that failed, the watchdog. A `blame`d step is failed first; then steps that will
 * never run are skipped, each planned undo shows `pending`, and the undo jobs are added.
 */
export async function compensate(
  ctx: SagaContext,
  record: PurchaseRecord,
  blame?: { step: string; error: PurchaseError },
): Promise<PurchaseRecord> {
  const { purchases } = ctx.stores;
  if (blame) {
    await purchases.failStep(record.id, blame.step, blame.error);
    record = (await purchases.get(record.id)) ?? record;
  }
  const plan = compensationPlan(record);
  await purchases.planCompensation(
    record.id,
    plan.skip,
    [...plan.money, ...plan.outside].filter((s) => !record.undos[s.name]).map((s) => s.name),
  );
  await ctx.flows.addBulk(compensationFlows(record.id, plan, ctx.compensationPolicy));
  return record;
}
