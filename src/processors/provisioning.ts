import { OutsideServiceError, postJson } from '../adapters/http-post.js';
import { fulfilledLines } from '../domain/pricing.js';
import type { ProvisionedProduct } from '../stores/domain-stores.js';
import type { PurchaseRecord } from '../stores/purchase-store.js';
import type { WorkerContext } from './context.js';
import { forwardStep, undoStep } from './step-runner.js';

interface Unit {
  id: string;
  /** The unit this one is a dependency of. */
  parentId?: string;
  productId: string;
  dependencyOf: string | null;
  customization: Record<string, unknown>;
  integrationUrl?: string;
}

/**
 * Every unit a purchase provisions, dependencies before the product they serve.
 * Ids are derived from the purchase, so a re-run finds the units it made before.
 */
async function unitsOf(ctx: WorkerContext, record: PurchaseRecord): Promise<Unit[]> {
  const lines = fulfilledLines(record.plan!, record.allocation);
  const defs = await ctx.stores.catalog.getDefs(lines.flatMap(([l]) => l.dependencies));
  const units: Unit[] = [];
  for (const [line, li] of lines) {
    for (let u = 0; u < line.quantity; u++) {
      const id = `${record.id}-${li}-${u}`;
      for (const dep of line.dependencies) {
        units.push({ id: `${id}-${dep}`, parentId: id, productId: dep, dependencyOf: line.productId, customization: {}, integrationUrl: defs.get(dep)?.integration?.url });
      }
      units.push({ id, productId: line.productId, dependencyOf: null, customization: line.customization, integrationUrl: line.integrationUrl });
    }
  }
  return units;
}

/** The Product Provisioner: Product Store records and external integrations, with their undo. */
export function provisioningHandlers(ctx: WorkerContext) {
  const { provisioned } = ctx.stores;
  const call = async (unit: Unit, record: PurchaseRecord, event: 'provision' | 'deprovision') => {
    if (event === 'provision') await ctx.injectFault('external');
    return postJson(
      unit.integrationUrl!,
      { event, provisionedId: unit.id, productId: unit.productId, purchaseId: record.id, customerId: record.customerId, customization: unit.customization },
      { idempotencyKey: event === 'provision' ? unit.id : `${unit.id}-deprovision`, timeoutMs: ctx.integrationTimeoutMs },
    );
  };

  return {
    provision: forwardStep(ctx, 'provisioning', async (record) => {
      await ctx.injectFault('provision');
      for (const unit of await unitsOf(ctx, record)) {
        let integration: ProvisionedProduct['integration'] = null;
        if (unit.integrationUrl) {
          // Provisioned on an earlier attempt: do not call the service again. (Without a service, putOnce is enough.)
          if (await provisioned.get(unit.id)) continue;
          const answer = (await call(unit, record, 'provision')) as { externalRef?: unknown; id?: unknown };
          const ref = answer.externalRef ?? answer.id;
          integration = { status: 'established', externalRef: ref == null ? null : String(ref) };
        }
        const now = new Date().toISOString();
        await provisioned.putOnce({
          id: unit.id,
          productId: unit.productId,
          purchaseId: record.id,
          customerId: record.customerId,
          customization: unit.customization,
          dependencyOf: unit.dependencyOf,
          integration,
          status: 'active',
          createdAt: now,
          updatedAt: now,
        });
      }
    }),

    // Reverse order: a product goes before the dependencies it was built on. A unit whose
    // external removal fails does not stop the others; its own dependencies stay until it is gone.
    deprovision: undoStep(ctx, 'provisioning', async (record) => {
      if (!record.plan) return false;
      let undid = false;
      const stillActive = new Set<string>();
      const failures: string[] = [];
      for (const unit of (await unitsOf(ctx, record)).reverse()) {
        if (unit.parentId && stillActive.has(unit.parentId)) continue;
        const stored = await provisioned.get(unit.id);
        if (stored?.status === 'deprovisioned') continue;
        // Also call when nothing was stored: the service may have acted on a request whose answer we lost.
        if (unit.integrationUrl) {
          try {
            await call(unit, record, 'deprovision');
          } catch (err) {
            if (!(err instanceof OutsideServiceError && err.status === 404)) {
              stillActive.add(unit.id);
              failures.push(`${unit.id}: ${(err as Error).message}`);
              continue;
            }
          }
        }
        if (stored) {
          const integration = stored.integration && { ...stored.integration, status: 'removed' as const };
          await provisioned.replace({ ...stored, integration, status: 'deprovisioned', updatedAt: new Date().toISOString() });
          undid = true;
        }
      }
      if (failures.length > 0) throw new Error(`could not deprovision ${failures.join('; ')}`);
      return undid;
    }),
  };
}
