import type { StepName } from '../queues/contract.js';
import type { WorkerContext } from './context.js';
import { inventoryHandlers } from './inventory.js';
import { orderHandlers } from './orders.js';
import { paymentHandlers } from './payment.js';
import { provisioningHandlers } from './provisioning.js';
import type { StepHandler } from './step-runner.js';
import { validationHandlers } from './validation.js';

/** Every forward step but the last (notification belongs to `complete`, which also compensates). */
export type ForwardStepName = Exclude<StepName, 'notification'>;

export function forwardSteps(ctx: WorkerContext): Record<ForwardStepName, StepHandler> {
  const { reserve, commit } = inventoryHandlers(ctx);
  return {
    validation: validationHandlers(ctx).validate,
    stock_check: reserve,
    payment: paymentHandlers(ctx).charge,
    inventory_update: commit,
    provisioning: provisioningHandlers(ctx).provision,
    order_placement: orderHandlers(ctx).place,
  };
}
