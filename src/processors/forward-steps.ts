import { stepsOf, type StageName, type StepName } from '../queues/contract.js';
import type { WorkerContext } from './context.js';
import { inventoryHandlers } from './inventory.js';
import { orderHandlers } from './orders.js';
import { paymentHandlers } from './payment.js';
import { provisioningHandlers } from './provisioning.js';
import { runSteps } from './step-runner.js';
import { validationHandlers } from './validation.js';

/** Every forward step but the last (notification belongs to `complete`, which also compensates). */
type ForwardStepName = Exclude<StepName, 'notification'>;
const isForward = (name: StepName): name is ForwardStepName => name !== 'notification';

/** Runs a stage's forward steps, in order, in one job: `stageSteps(ctx)('charge')(job)`. */
export function stageSteps(ctx: WorkerContext) {
  const { reserve, commit } = inventoryHandlers(ctx);
  const forward = {
    validation: validationHandlers(ctx).validate,
    stock_check: reserve,
    payment: paymentHandlers(ctx).charge,
    inventory_update: commit,
    provisioning: provisioningHandlers(ctx).provision,
    order_placement: orderHandlers(ctx).place,
  } satisfies Record<ForwardStepName, unknown>;
  return (stage: StageName) => runSteps(stepsOf(stage).filter(isForward).map((name) => forward[name]));
}

export type StageSteps = ReturnType<ReturnType<typeof stageSteps>>;
