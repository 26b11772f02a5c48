import { StepError } from '../errors.js';
import type { WorkerContext } from './context.js';
import { forwardStep, undoStep } from './step-runner.js';

/** Stock check (reserve) and inventory update (commit), each beside its undo. */
export function inventoryHandlers(ctx: WorkerContext) {
  const { inventory } = ctx.stores;
  return {
    reserve: forwardStep(ctx, 'stock_check', async (record) => {
      const lines = record.plan!.lines;
      const result = await inventory.reserve(record.id, record.customerId, lines);
      if (!result.ok) {
        const line = result.line === undefined ? undefined : lines[result.line];
        const detail =
          result.error === 'out_of_stock'
            ? 'none of the requested products is in stock'
            : result.error === 'missing_dependencies'
              ? `a dependency of ${line?.productId} (${line?.dependencies.join(', ')}) is not available`
              : `quota of ${line?.quotaPerCustomer} for ${line?.productId} reached`;
        throw new StepError(result.error, detail);
      }
      return { allocation: result.lines };
    }),
    release: undoStep(ctx, 'stock_check', async (record) => (await inventory.transition(record.id, 'release')) === 'released'),

    commit: forwardStep(ctx, 'inventory_update', async (record) => {
      await ctx.injectFault('inventory.commit');
      const state = await inventory.transition(record.id, 'commit');
      if (state !== 'committed') throw new Error(`reservation is ${state}, cannot commit`);
    }),
    restock: undoStep(ctx, 'inventory_update', async (record) => (await inventory.transition(record.id, 'restock')) === 'restocked'),
  };
}
