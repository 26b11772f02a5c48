import type { ProductDef } from '../../catalog/catalog-file.js';
import { StepError } from '../../errors.js';
import { checkCustomization } from '../../purchase/customization.js';
import { messages } from '../../purchase/messages.js';
import type { PlannedLine } from '../../purchase/record.js';
import { defineStep } from '../define-step.js';

function plannedLine(
  def: ProductDef,
  quantity: number,
  customization: Record<string, unknown>,
  free: boolean,
): PlannedLine {
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

/** Products, customizations and business rules turn the request into a priced plan. Nothing to undo. */
export const validation = defineStep({
  name: 'validation',
  failure: 'purchase_failed',
  async invoke(ctx, record) {
    const { catalog } = ctx.stores;
    const items = record.request.items;
    const defs = await catalog.getDefs(items.map((i) => i.productId));
    const unknown = items.filter((i) => !defs.has(i.productId)).map((i) => i.productId);
    if (unknown.length > 0) throw new StepError('invalid_product', messages.unknownProducts(unknown));
    for (const item of items) {
      const problem = checkCustomization(defs.get(item.productId)!, item.customization);
      if (problem) throw new StepError(problem.code, problem.detail);
    }
    const currencies = new Set([...defs.values()].map((d) => d.price.currency));
    if (currencies.size > 1) throw new StepError('invalid_product', messages.mixedCurrencies());
    const currency = [...currencies][0]!;
    const lines = items.map((i) => plannedLine(defs.get(i.productId)!, i.quantity, i.customization ?? {}, false));

    const outcome = await ctx.rules.evaluate({
      customerId: record.customerId,
      roles: record.request.roles,
      orderTotal: lines.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0),
      itemCount: lines.reduce((sum, l) => sum + l.quantity, 0),
      productIds: [...new Set(lines.map((l) => l.productId))],
    });
    if (outcome.rejected)
      throw new StepError('rule_rejected', messages.ruleRejected(outcome.rejected.rule, outcome.rejected.message));
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
  },
});
