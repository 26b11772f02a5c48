import { confirmationDrafts } from '../../purchase/notifications.js';
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
