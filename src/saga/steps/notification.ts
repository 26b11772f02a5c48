import type { Notification } from '../../purchase/documents.js';
import { confirmationDrafts, notificationDocs } from '../../purchase/notifications.js';
import type { PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { defineStep } from '../define-step.js';
import { notify, storeAndDeliver } from '../notify.js';

/** Tells the customer: the order, each product provisioned, what could not be fulfilled. */
export const notification = defineStep({
  name: 'notification',
  failure: 'purchase_failed',
  async invoke(ctx, record) {
    await notify(ctx, record.customerId, record.id, ...confirmationDrafts(record));
  },
  repair: {
    lost: async (ctx, record) => (await lostConfirmations(ctx, record)).length > 0,
    // Only the lost ones: those still stored were delivered already and may be past BullMQ's dedup window.
    redo: async (ctx, record) => storeAndDeliver(ctx, await lostConfirmations(ctx, record)),
  },
});

/** The purchase's confirmations that are not stored, as they would be stored now. */
async function lostConfirmations(ctx: Pick<SagaContext, 'stores'>, record: PurchaseRecord): Promise<Notification[]> {
  const docs = notificationDocs(record.customerId, record.id, confirmationDrafts(record));
  const stored = await ctx.stores.notifications.getMany(docs.map((d) => d.id));
  return docs.filter((_, i) => !stored[i]);
}
