import { orderIdFor } from '../../ids.js';
import type { Order } from '../../purchase/documents.js';
import { fulfilledLines } from '../../purchase/pricing.js';
import type { PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { defineStep } from '../define-step.js';
import { captureAtPivot } from './payment.js';

/** Order placement in the Order Management System: the saga's pivot, never undone. It captures the payment first. */
export const orderPlacement = defineStep({
  name: 'order_placement',
  failure: 'purchase_failed',
  fault: 'order.place',
  pivot: true,
  invoke: placeOrder,
  repair: {
    lost: async (ctx, record) => !(await ctx.stores.orders.get(orderIdFor(record.id))),
    // Built from the record alone under the order's derived id: the same order the step placed.
    async redo(ctx, record) {
      await placeOrder(ctx, record);
      ctx.metrics.ordersPlacedAgain.inc();
      ctx.log.warn(
        { purchaseId: record.id, requestId: record.requestId },
        'order recorded as placed was not in the OMS: placed again',
      );
    },
  },
});

async function placeOrder(ctx: SagaContext, record: PurchaseRecord) {
  // No order without the money: the authorization is captured first (contract §4), recorded with the order.
  const payment = await captureAtPivot(ctx, record);
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
  return { orderId: stored.id, ...(payment ? { payment } : {}) };
}
