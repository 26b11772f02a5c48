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
      // A completed purchase whose order is being canceled: settle its reservation first (a crash
      // between finish and settle can leave it committed), then return the units sold, once. Its
      // marker survives a later settle, so no retry restocks twice.
      if (record.phase === 'done' && record.steps.inventory_update === 'completed') {
        await ctx.stores.inventory.settle(record.id);
        const lines = fulfilledLines(record.plan!, record.allocation).map(([l]) => l);
        return (await ctx.stores.inventory.restockSettled(record.id, record.customerId, lines)) === 'restocked';
      }
      return (await ctx.stores.inventory.transition(record.id, 'restock')) === 'restocked';
    },
  },
});
