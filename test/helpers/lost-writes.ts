import type { TestSystem } from './system.js';

/** A notification's writes lost, as a failover's stale master loses them (README Scale-out): the document and its place in the customer's list. */
export async function loseNotification(sys: TestSystem, customerId: string, notificationId: string): Promise<void> {
  await sys.redis.del(sys.stores.keys.notification(notificationId));
  await sys.redis.zrem(sys.stores.keys.notificationsByCustomer(customerId), notificationId);
}

/** An order's writes lost: the document and its place in the customer's list. */
export async function loseOrder(sys: TestSystem, customerId: string, orderId: string): Promise<void> {
  await sys.redis.del(sys.stores.keys.order(orderId));
  await sys.redis.zrem(sys.stores.keys.ordersByCustomer(customerId), orderId);
}
