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
    run: async (ctx, record) => (await ctx.stores.inventory.transition(record.id, 'restock')) === 'restocked',
  },
});
