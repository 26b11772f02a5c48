import { OutsideServiceError, postJson } from '../../adapters/http-post.js';
import { dependencyUnitId, partnerKey, unitId } from '../../ids.js';
import type { ProvisionedProduct } from '../../purchase/documents.js';
import { fulfilledLines } from '../../purchase/pricing.js';
import type { PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { defineStep } from '../define-step.js';

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
async function unitsOf(ctx: SagaContext, record: PurchaseRecord): Promise<Unit[]> {
  const lines = fulfilledLines(record.plan!, record.allocation);
  const defs = await ctx.stores.catalog.getDefs(lines.flatMap(([l]) => l.dependencies));
  const units: Unit[] = [];
  for (const [line, li] of lines) {
    for (let u = 0; u < line.quantity; u++) {
      const id = unitId(record.id, li, u);
      for (const dep of line.dependencies) {
        units.push({
          id: dependencyUnitId(id, dep),
          parentId: id,
          productId: dep,
          dependencyOf: line.productId,
          customization: {},
          integrationUrl: defs.get(dep)?.integration?.url,
        });
      }
      units.push({
        id,
        productId: line.productId,
        dependencyOf: null,
        customization: line.customization,
        integrationUrl: line.integrationUrl,
      });
    }
  }
  return units;
}

async function callPartner(ctx: SagaContext, unit: Unit, record: PurchaseRecord, event: 'provision' | 'deprovision') {
  if (event === 'provision') await ctx.injectFault('external');
  return postJson(
    unit.integrationUrl!,
    {
      event,
      provisionedId: unit.id,
      productId: unit.productId,
      purchaseId: record.id,
      customerId: record.customerId,
      customization: unit.customization,
    },
    { idempotencyKey: partnerKey(unit.id, event), timeoutMs: ctx.integrationTimeoutMs },
  );
}

/** The Product Provisioner: Product Store records and partner services, with their undo. */
export const provisioning = defineStep({
  name: 'provisioning',
  failure: 'purchase_failed',
  fault: 'provision',
  async invoke(ctx, record) {
    const { provisioned } = ctx.stores;
    for (const unit of await unitsOf(ctx, record)) {
      let integration: ProvisionedProduct['integration'] = null;
      if (unit.integrationUrl) {
        // Provisioned on an earlier attempt: do not call the service again. (Without a service, putOnce is enough.)
        if (await provisioned.get(unit.id)) continue;
        const answer = (await callPartner(ctx, unit, record, 'provision')) as { externalRef?: unknown; id?: unknown };
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
  },
  repair: {
    // On the provisioning queue, where partner calls and their concurrency live.
    job: 'reprovision',
    // A unit no longer in the Product Store, active: invoke skips the units still there, and a
    // partner gets the first call's Idempotency-Key.
    async lost(ctx, record) {
      for (const unit of await unitsOf(ctx, record))
        if ((await ctx.stores.provisioned.get(unit.id))?.status !== 'active') return true;
      return false;
    },
  },
  compensate: {
    job: 'deprovision',
    // A partner may be down or hang: its cleanup never holds up the refund.
    outside: true,
    // Reverse order: a product goes before the dependencies it was built on. A unit whose
    // external removal fails does not stop the others; its own dependencies stay until it is gone.
    // A unit the partner never confirmed is deprovisioned too: it may have acted on a request whose
    // answer was lost, and the call is idempotent (a 404 counts as gone).
    async run(ctx, record) {
      if (!record.plan) return false;
      const { provisioned } = ctx.stores;
      let undid = false;
      const stillActive = new Set<string>();
      const failures: string[] = [];
      for (const unit of (await unitsOf(ctx, record)).reverse()) {
        if (unit.parentId && stillActive.has(unit.parentId)) continue;
        const stored = await provisioned.get(unit.id);
        if (stored?.status === 'deprovisioned') continue;
        if (unit.integrationUrl) {
          try {
            await callPartner(ctx, unit, record, 'deprovision');
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
          await provisioned.replace({
            ...stored,
            integration,
            status: 'deprovisioned',
            updatedAt: new Date().toISOString(),
          });
          undid = true;
        }
      }
      if (failures.length > 0) throw new Error(`could not deprovision ${failures.join('; ')}`);
      return undid;
    },
  },
});
