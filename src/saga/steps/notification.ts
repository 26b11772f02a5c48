import type { Notification } from '../../purchase/documents.js';
import { confirmationDrafts, notificationDocs } from '../../purchase/notifications.js';
import type { PurchaseRecord } from '../../purchase/record.js';
import type { SagaContext } from '../context.js';
import { defineStep } from '../define-step.js';
import { notify } from '../notify.js';

/** Tells the customer: the order, each product provisioned, what could not be fulfilled. */
export const notification = defineStep({
  name: 'notification',
  failure: 'purchase_failed',
  async invoke(ctx, record) {
    await notify(ctx, record.customerId, record.id, ...confirmationDrafts(record));
  },
});

/** The purchase's confirmations that are not stored (a write lost in a failover, like a unit's), as they would be stored now. */
export async function lostConfirmations(
  ctx: Pick<SagaContext, 'stores'>,
  record: PurchaseRecord,
): Promise<Notification[]> {
  const docs = notificationDocs(record.customerId, record.id, confirmationDrafts(record));
  const stored = await ctx.stores.notifications.getMany(docs.map((d) => d.id));
  return docs.filter((_, i) => !stored[i]);
}
