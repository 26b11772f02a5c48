import { StepError } from '../../errors.js';
import { messages } from '../../purchase/messages.js';
import { defineStep } from '../define-step.js';

/** Reserves the stock of every line (all-or-nothing per line); released if the purchase fails. */
export const stockCheck = defineStep({
  name: 'stock_check',
  failure: 'purchase_failed',
  async invoke(ctx, record) {
    const lines = record.plan!.lines;
    const result = await ctx.stores.inventory.reserve(record.id, record.customerId, lines);
    if (!result.ok) {
      const line = result.line === undefined ? undefined : lines[result.line];
      const detail =
        result.error === 'out_of_stock'
          ? messages.nothingInStock()
          : result.error === 'missing_dependencies'
            ? messages.missingDependency(line)
            : messages.quotaReached(line);
      throw new StepError(result.error, detail);
    }
    return { allocation: result.lines };
  },
  compensate: {
    job: 'release',
    run: async (ctx, record) => (await ctx.stores.inventory.transition(record.id, 'release')) === 'released',
  },
});
