import { fulfilledLines } from '../domain/pricing.js';
import type { Order } from '../stores/domain-stores.js';
import type { WorkerContext } from './context.js';
import { forwardStep } from './step-runner.js';

export const orderIdFor = (purchaseId: string) => purchaseId.replace(/^pur_/, 'ord_');

/** Order placement in the Order Management System: the saga's pivot, never undone. */
export function orderHandlers(ctx: WorkerContext) {
  return {
    place: forwardStep(ctx, 'order_placement', async (record) => {
      await ctx.injectFault('order.place');
      const plan = record.plan!;
      const order: Order = {
        id: orderIdFor(record.id),
        purchaseId: record.id,
        customerId: record.customerId,
        items: fulfilledLines(plan, record.allocation).map(([l]) => ({
          productId: l.productId,
          quantity: l.quantity,
          unitPrice: l.free ? 0 : l.unitPrice,
          customization: l.customization,
        })),
        backordered:
          record.request.outOfStock === 'backorder'
            ? plan.lines
                .filter((_, i) => record.allocation?.[i] === 'out_of_stock')
                .map((l) => ({ productId: l.productId, quantity: l.quantity, customization: l.customization }))
            : [],
        total: { amount: record.payment.amount, currency: plan.currency },
        appliedRules: plan.appliedRules,
        status: 'placed',
        createdAt: new Date().toISOString(),
      };
      const stored = await ctx.stores.orders.putOnce(order);
      return { orderId: stored.id };
    }),
  };
}
