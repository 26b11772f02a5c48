import type { StepName } from '../queues/contract.js';
import type { PurchaseStatus, PurchaseStore } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';

type Fields = Parameters<PurchaseStore['finish']>[2];

/**
 * Ends the purchase (once; true if this call ended it) and settles its stock
 * reservation, which nothing can move any more. Both go out together, in order,
 * on one connection: one round trip. A crash between the two writes would leave
 * one reservation behind, which the audit still counts as committed.
 */
export async function finishPurchase(ctx: WorkerContext, id: string, status: PurchaseStatus, fields: Fields = {}, completedStep?: StepName): Promise<boolean> {
  const [ended] = await Promise.all([ctx.stores.purchases.finish(id, status, fields, completedStep), ctx.stores.inventory.settle(id)]);
  return ended;
}
