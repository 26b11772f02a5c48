import { notificationId } from '../ids.js';
import type { Notification, NotificationType } from './documents.js';
import { messages } from './messages.js';
import { fulfilledLines } from './pricing.js';
import type { PurchaseError, PurchaseRecord } from './record.js';

export interface NotificationDraft {
  type: NotificationType;
  message: string;
  details?: Record<string, unknown>;
  /** Distinguishes several notifications of one type for one purchase. */
  seq?: number;
}

/** The documents of `drafts`, ids derived from purchase, type and seq. */
export function notificationDocs(
  customerId: string,
  purchaseId: string,
  drafts: NotificationDraft[],
  createdAt = new Date().toISOString(),
): Notification[] {
  return drafts.map((d) => ({
    id: notificationId(purchaseId, d.type, d.seq),
    type: d.type,
    customerId,
    purchaseId,
    message: d.message,
    details: d.details ?? {},
    createdAt,
  }));
}

/** The acknowledgement an asynchronous purchase gets. */
export const acknowledgementOf = (customerId: string, purchaseId: string, createdAt: string) =>
  notificationDocs(
    customerId,
    purchaseId,
    [
      {
        type: 'purchase_accepted',
        message: messages.accepted(purchaseId),
        details: { statusUrl: `/v1/purchases/${purchaseId}` },
      },
    ],
    createdAt,
  )[0]!;

/** What a completed purchase tells its customer: the order, each product, and what could not be fulfilled. */
export function confirmationDrafts(record: PurchaseRecord): NotificationDraft[] {
  const plan = record.plan!;
  const fulfilled = fulfilledLines(plan, record.allocation);
  const drafts: NotificationDraft[] = [
    {
      type: 'order_confirmation',
      message: messages.orderPlaced(
        record.orderId!,
        fulfilled.map(([l]) => l),
        messages.total(record.payment.amount, plan.currency),
      ),
      details: {
        orderId: record.orderId,
        items: fulfilled.map(([l]) => ({
          productId: l.productId,
          quantity: l.quantity,
          unitPrice: l.unitPrice,
          customization: l.customization,
        })),
        total: { amount: record.payment.amount, currency: plan.currency },
        appliedRules: plan.appliedRules,
      },
    },
    ...fulfilled.map(([l, i]): NotificationDraft => ({
      type: 'product_provisioned',
      seq: i,
      message: messages.provisioned(l),
      details: {
        productId: l.productId,
        quantity: l.quantity,
        customization: l.customization,
        dependencies: l.dependencies,
        orderId: record.orderId,
      },
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
    drafts.push({
      type: 'partial_fulfillment',
      message: messages.partlyFulfilled(missing),
      details: { orderId: record.orderId, lines },
    });
  }
  return drafts;
}

const FAILURE_TYPE: Partial<Record<string, NotificationType>> = {
  out_of_stock: 'out_of_stock',
  payment_failed: 'payment_failed',
};

/** What a failed purchase tells its customer, once its money is back. */
export function failureDraft(record: PurchaseRecord, error: PurchaseError): NotificationDraft {
  const refunded = record.payment.status === 'refunded';
  return {
    type: FAILURE_TYPE[error.code] ?? 'purchase_failed',
    message: messages.failed(record.id, error.code, error.detail, record.payment),
    details: { code: error.code, step: error.step, detail: error.detail, refunded, payment: record.payment },
  };
}

/** What a canceled order tells its customer, once its money is back. */
export function orderCanceledDraft(record: PurchaseRecord, orderId: string): NotificationDraft {
  return {
    type: 'order_canceled',
    message: messages.orderCanceled(orderId, record.payment),
    details: { orderId, refunded: record.payment.status === 'refunded', payment: record.payment },
  };
}

/** What a canceled purchase tells its customer, once its money is back. */
export function cancelDraft(record: PurchaseRecord): NotificationDraft {
  return {
    type: 'purchase_canceled',
    message: messages.canceled(record.id, record.payment),
    details: { refunded: record.payment.status === 'refunded', payment: record.payment },
  };
}

/** What a purchase waiting for its customer's payment action tells them: where to go, and until when. */
export function actionRequiredDraft(url: string | undefined, until: string): NotificationDraft {
  return {
    type: 'payment_action_required',
    message: messages.actionRequired(url, until),
    details: { ...(url ? { url } : {}), expiresAt: until },
  };
}
