import { OutsideServiceError, postJson } from '../../adapters/http-post.js';
import { PartnerRefusedError } from '../../adapters/partner-outcomes.js';
import { DEFAULT_CALLBACK_TIMEOUT_S, type Integration } from '../../catalog/catalog-file.js';
import { StepError } from '../../errors.js';
import { dependencyUnitId, partnerKey, partnerPlace, unitId } from '../../ids.js';
import { messages } from '../../purchase/messages.js';
import type { ProvisionedProduct } from '../../purchase/documents.js';
import { fulfilledLines } from '../../purchase/pricing.js';
import type { PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { defineStep } from '../define-step.js';
import { TryAgainAt, WaitFor } from '../wait.js';
import { buildUp, tearDown, type UnitTree } from '../dependency-order.js';

/**
 * Partner calls one purchase has in flight at once. Its units are independent of each other (but for
 * dependencies), so they go side by side; the bound keeps a bulk order from opening a connection per
 * unit at once, which a partner would see as a burst and each workers process multiplies by its
 * WORKER_CONCURRENCY. An ordinary purchase still goes in one wave.
 */
const UNITS_IN_FLIGHT = 16;

interface Unit {
  id: string;
  productId: string;
  dependencyOf: string | null;
  customization: Record<string, unknown>;
  partner?: Pick<Integration, 'url' | 'secretEnv' | 'timeoutMs' | 'callbackTimeoutS'>;
}

/**
 * Every unit a purchase provisions, each product unit with the dependencies it is built on. Ids are
 * derived from the purchase, so a re-run finds the units it made before. Where a partner is, is frozen
 * in the plan (every retry and undo reaches the partner the purchase was priced with); how to call it
 * (its secret's name, its timeout) is the catalog's current word, so a rotated secret applies at once.
 */
async function unitTreesOf(ctx: SagaContext, record: PurchaseRecord): Promise<UnitTree<Unit>[]> {
  const lines = fulfilledLines(record.plan!, record.allocation);
  // The catalog is asked only about partners (a plain product's unit needs nothing from it): no read for most purchases.
  const defs = await ctx.stores.catalog.getDefs(
    lines.flatMap(([l]) => [...(l.integrationUrl ? [l.productId] : []), ...l.dependencies]),
  );
  const partnerOf = (productId: string, url: string | undefined) => {
    if (!url) return {};
    const { secretEnv, timeoutMs, callbackTimeoutS } = defs.get(productId)?.integration ?? {};
    return { partner: { url, secretEnv, timeoutMs, callbackTimeoutS } };
  };
  const trees: UnitTree<Unit>[] = [];
  for (const [line, li] of lines) {
    for (let u = 0; u < line.quantity; u++) {
      const id = unitId(record.id, li, u);
      trees.push({
        unit: {
          id,
          productId: line.productId,
          dependencyOf: null,
          customization: line.customization,
          ...partnerOf(line.productId, line.integrationUrl),
        },
        dependencies: line.dependencies.map((dep) => ({
          id: dependencyUnitId(id, dep),
          productId: dep,
          dependencyOf: line.productId,
          customization: {},
          ...partnerOf(dep, defs.get(dep)?.integration?.url),
        })),
      });
    }
  }
  return trees;
}

const allUnits = (trees: UnitTree<Unit>[]) => trees.flatMap((t) => [...t.dependencies, t.unit]);

/** The headers that sign a call, when the partner has a secret; its Idempotency-Key is the webhook-id. */
function signing(ctx: SagaContext, partner: NonNullable<Unit['partner']>, key: string) {
  if (!partner.secretEnv) return {};
  const signer = ctx.partnerKeys.get(partner.secretEnv)?.sign;
  // Named by a catalog this process did not load (another process's, newer): never call unsigned.
  if (!signer) throw new Error(`partner secret ${partner.secretEnv} is not loaded by this process`);
  return { sign: signer(key) };
}

async function callPartner(ctx: SagaContext, unit: Unit, record: PurchaseRecord, event: 'provision' | 'deprovision') {
  const partner = unit.partner!;
  if (event === 'provision') await ctx.injectFault('external');
  const idempotencyKey = partnerKey(unit.id, event);
  const opts = {
    idempotencyKey,
    timeoutMs: partner.timeoutMs ?? ctx.integrationTimeoutMs,
    ...signing(ctx, partner, idempotencyKey),
  };
  // Through the partner's bulkhead and breaker: the units of one job share its place there.
  return ctx.partners.call(partner.url, { event, job: partnerPlace(record.id, event) }, () =>
    postJson(
      partner.url,
      {
        event,
        provisionedId: unit.id,
        productId: unit.productId,
        purchaseId: record.id,
        customerId: record.customerId,
        customization: unit.customization,
        ...(event === 'provision' ? { callbackUrl: ctx.partnerCallbackUrl(unit.id) } : {}),
      },
      opts,
    ),
  );
}

/**
 * Provisions one unit; undefined once it is provisioned, its deadline (epoch ms) while its partner
 * works on it (it answered 202 and calls back). A unit stored before is not sent again: its stored standing is the answer
 * (the callback route records the partner's word on it, so a callback that came while no worker
 * ran is not lost). A partner's failure, or no word by the deadline, fails the step for good.
 */
async function provisionUnit(ctx: SagaContext, record: PurchaseRecord, unit: Unit): Promise<number | undefined> {
  const { provisioned } = ctx.stores;
  let integration: ProvisionedProduct['integration'] = null;
  if (unit.partner) {
    const stored = await provisioned.get(unit.id);
    if (stored) return standing(unit, stored.integration);
    const answer = await callPartner(ctx, unit, record, 'provision');
    const { externalRef, id } = (answer.body ?? {}) as { externalRef?: unknown; id?: unknown };
    const ref = externalRef ?? id;
    integration = { status: 'established', externalRef: ref == null ? null : String(ref) };
    if (answer.status === 202) {
      // Its callback could never be verified: say so now rather than wait out the deadline.
      if (!unit.partner.secretEnv)
        throw new StepError('purchase_failed', messages.partnerCannotCallBack(unit.productId));
      const until = Date.now() + (unit.partner.callbackTimeoutS ?? DEFAULT_CALLBACK_TIMEOUT_S) * 1000;
      integration = { ...integration, status: 'pending', until: new Date(until).toISOString() };
    }
  }
  const now = new Date().toISOString();
  const stored = await provisioned.putOnce({
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
  return standing(unit, stored.integration);
}

/** A stored unit's deadline while it is under way; undefined once provisioned; throws when it failed for good. */
function standing(unit: Unit, integration: ProvisionedProduct['integration']): number | undefined {
  if (integration?.status === 'failed')
    throw new StepError('purchase_failed', messages.partnerFailed(unit.productId, integration.reason));
  if (integration?.status !== 'pending') return undefined;
  const until = Date.parse(integration.until!);
  if (Date.now() >= until) throw new StepError('purchase_failed', messages.partnerTimedOut(unit.productId));
  return until;
}

/**
 * Removes one unit; true when there was something to remove. A unit the partner never confirmed is
 * deprovisioned too: it may have acted on a request whose answer was lost, and the call is idempotent
 * (a 404 counts as gone).
 */
async function deprovisionUnit(ctx: SagaContext, record: PurchaseRecord, unit: Unit): Promise<boolean> {
  const { provisioned } = ctx.stores;
  const stored = await provisioned.get(unit.id);
  if (stored?.status === 'deprovisioned') return false;
  if (unit.partner) {
    try {
      await callPartner(ctx, unit, record, 'deprovision');
    } catch (err) {
      if (!(err instanceof OutsideServiceError && err.status === 404)) throw err;
    }
  }
  if (!stored) return false;
  // A unit its partner failed keeps saying so: that word, sent again, is still the one taken (204, not 409).
  const integration = stored.integration && {
    ...stored.integration,
    status: stored.integration.status === 'failed' ? ('failed' as const) : ('removed' as const),
  };
  await provisioned.replace({ ...stored, integration, status: 'deprovisioned', updatedAt: new Date().toISOString() });
  return true;
}

/** The Product Provisioner: Product Store records and partner services, with their undo. */
export const provisioning = defineStep({
  name: 'provisioning',
  failure: 'purchase_failed',
  fault: 'provision',
  async invoke(ctx, record) {
    // Units a partner still works on (and the units built on them) are not done: wait for the callback,
    // holding no worker, until the first of their deadlines.
    const pending: number[] = [];
    await buildUp(
      await unitTreesOf(ctx, record),
      async (unit) => {
        const until = await provisionUnit(ctx, record, unit);
        if (until !== undefined) pending.push(until);
        return until === undefined;
      },
      UNITS_IN_FLIGHT,
    );
    if (pending.length > 0) throw new WaitFor(Math.min(...pending));
  },
  repair: {
    // On the provisioning queue, where partner calls and their concurrency live.
    job: 'reprovision',
    // A unit no longer in the Product Store, active: invoke skips the units still there, and a
    // partner gets the first call's Idempotency-Key.
    async lost(ctx, record) {
      for (const unit of allUnits(await unitTreesOf(ctx, record)))
        if ((await ctx.stores.provisioned.get(unit.id))?.status !== 'active') return true;
      return false;
    },
  },
  compensate: {
    job: 'deprovision',
    // A partner may be down or hang: its cleanup never holds up the refund.
    outside: true,
    // A product goes before the dependencies it was built on; a unit whose removal fails keeps
    // them, and does not stop the others.
    async run(ctx, record) {
      if (!record.plan) return false;
      let undid = false;
      const failures = await tearDown(
        await unitTreesOf(ctx, record),
        async (unit) => {
          if (await deprovisionUnit(ctx, record, unit)) undid = true;
        },
        UNITS_IN_FLIGHT,
      );
      // Refused before anything was sent (the partner's circuit is open): again once it may be called.
      const refused = failures.map((f) => f.error).filter((e) => e instanceof PartnerRefusedError);
      if (failures.length > 0 && refused.length === failures.length)
        throw new TryAgainAt(Math.min(...refused.map((e) => e.retryAt)), refused[0]!.message);
      if (failures.length > 0)
        throw new Error(
          `could not deprovision ${failures.map((f) => `${f.unit.id}: ${(f.error as Error).message}`).join('; ')}`,
        );
      return undid;
    },
  },
});
