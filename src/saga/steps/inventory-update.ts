import { fulfilledLines } from '../../purchase/pricing.js';
import { defineStep } from '../define-step.js';

/** Turns the reservation into a sale; restocked if the purchase fails. */
export const inventoryUpdate = defineStep({
  name: 'inventory_update',
  failure: 'purchase_failed',
  fault: 'inventory.commit',
  async invoke(ctx, record) {
    const state = await ctx.stores.inventory.transition(record.id, 'commit');
    if (state !== 'committed') throw new Error(`reservation is ${state}, cannot commit`);
  },
  compensate: {
    job: 'restock',
    async run(ctx, record) {
      const state = await ctx.stores.inventory.transition(record.id, 'restock');
      // A completed purchase settled its reservation (its order is being canceled): return the units sold.
      if (state === 'none' && record.phase === 'done' && record.steps.inventory_update === 'completed') {
        const lines = fulfilledLines(record.plan!, record.allocation).map(([l]) => l);
        return (await ctx.stores.inventory.restockSettled(record.id, record.customerId, lines)) === 'restocked';
      }
      return state === 'restocked';
    },
  },
});
