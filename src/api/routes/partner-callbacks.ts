import { Hono } from 'hono';
import { z } from 'zod';
import type { PartnerKeys } from '../../adapters/partner-keys.js';
import { AppError } from '../../errors.js';
import { problem } from '../../http/problem.js';
import type { Logger } from '../../logger.js';
import type { Stores } from '../../stores/domain-stores.js';
import { limitBody } from '../middleware/body-limit.js';

/** A callback is a few fields; nothing longer is read. */
const MAX_BODY_BYTES = 16 * 1024;

const callbackSchema = z.object({
  status: z.enum(['active', 'failed']),
  externalRef: z.string().max(500).optional(),
  reason: z.string().max(1000).optional(),
});

export interface PartnerCallbackDeps {
  stores: Stores;
  /** The secrets the catalog names, resolved from this process's environment. */
  partnerKeys: PartnerKeys;
  /** Makes the purchase look at its units again now. */
  wake(purchaseId: string): Promise<void>;
  log: Logger;
}

/**
 * `POST /:provisionedId` (contract §5.1): a partner that answered 202 reports on the unit, signed with
 * its secret as our calls to it are (Standard Webhooks over the raw body, 5 minutes' tolerance). The
 * word is recorded on the unit atomically before anything else happens, then the purchase is woken:
 * recorded, it is read by the saga's next run whenever that is, so it is never lost; before its
 * deadline only (the saga fails the unit at the deadline, and a later word changes nothing).
 */
export function partnerCallbackRoutes(deps: PartnerCallbackDeps): Hono {
  const { stores, log } = deps;
  const app = new Hono();
  app.post(
    '/:provisionedId',
    limitBody({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => problem(c, new AppError('payload_too_large', `A callback is at most ${MAX_BODY_BYTES} bytes.`)),
    }),
    async (c) => {
      const unitId = c.req.param('provisionedId');
      const unit = await stores.provisioned.get(unitId);
      if (!unit) throw new AppError('not_found', 'No unit has this id.');
      const raw = await c.req.text();
      const secretEnv = (await stores.catalog.getDefs([unit.productId])).get(unit.productId)?.integration?.secretEnv;
      const key = secretEnv ? deps.partnerKeys.get(secretEnv) : undefined;
      try {
        if (!key) throw new Error(`no secret for ${unit.productId}'s partner`);
        key.verify(raw, c.req.header());
      } catch (err) {
        log.warn({ unitId, err: (err as Error).message }, 'partner callback rejected');
        throw new AppError('invalid_signature', 'The webhook signature does not verify for this body and time.');
      }
      let word: z.infer<typeof callbackSchema>;
      try {
        word = callbackSchema.parse(JSON.parse(raw));
      } catch {
        throw new AppError(
          'validation_error',
          'The body must be {"status": "active" | "failed", "externalRef"?, "reason"?}.',
        );
      }
      // A purchase that stopped running (canceled, failed, timed out) undoes its units: nothing to take,
      // but the word it took before, sent again, is still answered as taken.
      const purchase = await stores.purchases.get(unit.purchaseId);
      const outcome = await stores.partnerCallbacks.record(unitId, word, { take: purchase?.phase === 'running' });
      if (outcome === 'missing') throw new AppError('not_found', 'No unit has this id.');
      if (outcome === 'closed')
        throw new AppError('not_cancelable', 'This unit no longer waits for its partner: nothing was changed.');
      if (outcome === 'taken') {
        log.info({ unitId, purchaseId: unit.purchaseId, status: word.status }, 'partner callback taken');
        // A lost wake only delays the purchase to its next check: the word is recorded.
        await deps
          .wake(unit.purchaseId)
          .catch((err: unknown) => log.warn({ err, unitId }, 'partner callback: wake failed'));
      }
      return c.body(null, 204);
    },
  );
  return app;
}
