import type { Job } from 'bullmq';
import type { ProductDef } from '../catalog/catalog-file.js';
import { checkCustomization } from '../domain/customization.js';
import { formatMoney } from '../domain/money.js';
import { fulfilledLines } from '../domain/pricing.js';
import { StepError } from '../errors.js';
import { buildCompensationFlow } from '../flows/compensation-plan.js';
import { buildPurchaseFlow } from '../flows/purchase-flow.js';
import type { SagaJobData } from '../queues/contract.js';
import type { PlannedLine, PurchaseRecord } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';
import { notify, type NotificationDraft } from './notify.js';
import { orderIdFor } from './orders.js';
import { forwardStep } from './step-runner.js';

function plannedLine(def: ProductDef, quantity: number, customization: Record<string, unknown>, free: boolean): PlannedLine {
  return {
    productId: def.id,
    quantity,
    unitPrice: free ? 0 : def.price.amount,
    customization,
    free,
    dependencies: def.dependencies,
    ...(def.quotaPerCustomer ? { quotaPerCustomer: def.quotaPerCustomer } : {}),
    ...(def.integration ? { integrationUrl: def.integration.url } : {}),
  };
}

/** The orchestrator's own steps: validation first, and `complete` at the root of the flow. */
export function orchestratorHandlers(ctx: WorkerContext) {
  const { catalog, purchases } = ctx.stores;

  const validate = forwardStep(ctx, 'validation', async (record) => {
    const items = record.request.items;
    const defs = await catalog.getDefs(items.map((i) => i.productId));
    const unknown = items.filter((i) => !defs.has(i.productId)).map((i) => i.productId);
    if (unknown.length > 0) throw new StepError('invalid_product', `unknown product: ${[...new Set(unknown)].join(', ')}`);
    for (const item of items) {
      const problem = checkCustomization(defs.get(item.productId)!, item.customization);
      if (problem) throw new StepError(problem.code, problem.detail);
    }
    const currencies = new Set([...defs.values()].map((d) => d.price.currency));
    if (currencies.size > 1) throw new StepError('invalid_product', 'products priced in different currencies cannot be bought together');
    const currency = [...currencies][0]!;
    const lines = items.map((i) => plannedLine(defs.get(i.productId)!, i.quantity, i.customization ?? {}, false));

    const outcome = await ctx.rules.evaluate({
      customerId: record.customerId,
      roles: record.request.roles,
      orderTotal: lines.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0),
      itemCount: lines.reduce((sum, l) => sum + l.quantity, 0),
      productIds: [...new Set(lines.map((l) => l.productId))],
    });
    if (outcome.rejected) throw new StepError('rule_rejected', `${outcome.rejected.rule}: ${outcome.rejected.message}`);
    const extras = await catalog.getDefs(outcome.addItems);
    for (const productId of outcome.addItems) {
      const def = extras.get(productId);
      if (def) lines.push(plannedLine(def, 1, {}, true));
      else ctx.log.warn({ purchaseId: record.id, productId }, 'rule adds an unknown product; ignored');
    }
    return {
      plan: { lines, currency, discountPercent: outcome.discountPercent, appliedRules: outcome.appliedRules },
      payment: { status: 'none', amount: 0, currency },
    };
  });

  const complete = async (job: Job<SagaJobData>): Promise<string> => {
    const id = job.data.purchaseId;
    let record = await purchases.get(id);
    if (!record || record.phase === 'done') return 'done';
    if (record.phase === 'running' && record.steps.order_placement !== 'completed') {
      // An order in the OMS means the pivot was passed even if its step never recorded it (a crash).
      const order = await ctx.stores.orders.get(orderIdFor(id));
      if (order) await purchases.completeStep(id, 'order_placement', { orderId: order.id });
      else await purchases.failStep(id, 'order_placement', { code: 'purchase_failed', detail: 'order_placement did not complete', step: 'order_placement' });
      record = (await purchases.get(id))!;
    }
    if (record.phase === 'compensating') {
      await ctx.flows.add(buildCompensationFlow(record, ctx.compensationPolicy));
      await purchases.setStep(id, 'notification', 'skipped', 'compensating');
      return 'compensating';
    }
    await sendConfirmations(ctx, record);
    const partial = record.allocation?.includes('out_of_stock') ?? false;
    const status = partial ? 'partially_fulfilled' : 'completed';
    if (await purchases.finish(id, status, {}, 'notification')) ctx.metrics.purchases.inc({ status, code: '' });
    ctx.log.info({ purchaseId: id, requestId: record.requestId, status }, 'purchase finished');
    return 'completed';
  };

  /** The hand-off from the gateway becomes the saga's flow (deterministic ids: adding twice adds once). */
  const start = async (job: Job<SagaJobData>): Promise<string> => {
    await ctx.flows.add(buildPurchaseFlow(job.data.purchaseId, ctx.stepPolicy, ctx.rootAttempts));
    return 'started';
  };

  return { start, validate, complete };
}

async function sendConfirmations(ctx: WorkerContext, record: PurchaseRecord): Promise<void> {
  const plan = record.plan!;
  const fulfilled = fulfilledLines(plan, record.allocation);
  const total = formatMoney(record.payment.amount, plan.currency);
  const describe = fulfilled.map(([l]) => `${l.quantity} × ${l.productId}`).join(', ');
  const drafts: NotificationDraft[] = [
    {
      type: 'order_confirmation',
      message: `Order ${record.orderId} placed: ${describe}; total ${total}.`,
      details: {
        orderId: record.orderId,
        items: fulfilled.map(([l]) => ({ productId: l.productId, quantity: l.quantity, unitPrice: l.unitPrice, customization: l.customization })),
        total: { amount: record.payment.amount, currency: plan.currency },
        appliedRules: plan.appliedRules,
      },
    },
    ...fulfilled.map(([l, i]): NotificationDraft => ({
      type: 'product_provisioned',
      seq: i,
      message: `${l.productId} is ready${l.dependencies.length ? ` (with ${l.dependencies.join(', ')})` : ''}.`,
      details: { productId: l.productId, quantity: l.quantity, customization: l.customization, dependencies: l.dependencies, orderId: record.orderId },
    })),
  ];
  if (record.allocation?.includes('out_of_stock')) {
    const policy = record.request.outOfStock;
    const lines = plan.lines.map((l, i) => ({
      productId: l.productId,
      quantity: l.quantity,
      outcome: record.allocation![i] === 'fulfilled' ? 'fulfilled' : policy === 'backorder' ? 'backordered' : 'removed',
    }));
    const missing = lines.filter((l) => l.outcome !== 'fulfilled').map((l) => `${l.productId} ${l.outcome}`);
    drafts.push({ type: 'partial_fulfillment', message: `Part of your order could not be fulfilled: ${missing.join(', ')}.`, details: { orderId: record.orderId, lines } });
  }
  await notify(ctx, record.customerId, record.id, ...drafts);
}
