import { TEST_ENV, type Deployment } from './deployment.js';
import { providerPaymentOf } from './gateway.js';

/** A notification's writes lost, as a failover's stale master loses them (README Scale-out): the document and its place in the customer's list. */
export async function loseNotification(sys: Deployment, customerId: string, notificationId: string): Promise<void> {
  await sys.redis.del(sys.stores.keys.notification(notificationId));
  await sys.redis.zrem(sys.stores.keys.notificationsByCustomer(customerId), notificationId);
}

/** An order's writes lost: the document and its place in the customer's list. */
export async function loseOrder(sys: Deployment, customerId: string, orderId: string): Promise<void> {
  await sys.redis.del(sys.stores.keys.order(orderId));
  await sys.redis.zrem(sys.stores.keys.ordersByCustomer(customerId), orderId);
}

/** A customer's completed purchase of a basic plan whose order was then lost. */
export async function purchaseWithOrderLost(sys: Deployment) {
  const customer = await sys.customer();
  const bought = await customer.buy('basic-plan');
  if (bought.status !== 201) throw new Error(`the purchase answered ${bought.status}`);
  const id: string = bought.body.id;
  const [placed] = await customer.orders();
  await loseOrder(sys, customer.id, placed.id);
  return { customer, id, placed };
}

/**
 * A void lost in a failover on the built-in provider's shard: its ledger shows the payment held
 * again, as it was before the void, while the purchase's own record (another shard) kept the undo.
 */
export async function loseVoid(sys: Deployment, paymentId: string): Promise<void> {
  const key = sys.stores.keys.providerPayment(paymentId);
  const payment = JSON.parse((await sys.redis.get(key))!) as Record<string, unknown>;
  if (payment.state !== 'voided') throw new Error(`payment ${paymentId} is ${String(payment.state)}, not voided`);
  await sys.redis.set(key, JSON.stringify({ ...payment, state: 'authorized' }));
}

/**
 * A customer's basic plan that failed at the pivot (order placement refused on every attempt) and was
 * settled, its hold voided; then that void lost, so the provider shows the money held again.
 */
export async function purchaseWithVoidLost(sys: Deployment) {
  const customer = await sys.customer();
  const armed = await sys.admin('POST', '/admin/faults', {
    point: 'order.place',
    times: Number(TEST_ENV.STEP_ATTEMPTS),
  });
  if (armed.status !== 201) throw new Error(`arming the fault answered ${armed.status}`);
  const failed = await customer.buy('basic-plan');
  if (failed.status !== 502) throw new Error(`the purchase answered ${failed.status}, not 502`);
  const id: string = failed.body.purchaseId;
  await customer.waitForSettled(id);
  const voided = (await providerPaymentOf(sys, id))!;
  await loseVoid(sys, voided.id);
  return { customer, id, voided };
}
