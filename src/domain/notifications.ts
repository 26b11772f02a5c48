import type { Notification, NotificationType } from '../stores/domain-stores.js';

export interface NotificationDraft {
  type: NotificationType;
  message: string;
  details?: Record<string, unknown>;
  /** Distinguishes several notifications of one type for one purchase. */
  seq?: number;
}

/** Derived from purchase, type and seq, so writing it again finds the first one. */
export const notificationId = (purchaseId: string, type: NotificationType, seq?: number) =>
  `ntf_${purchaseId.replace(/^pur_/, '')}_${type}${seq === undefined ? '' : `_${seq}`}`;

/** The documents of `drafts`, ids derived from purchase, type and seq. */
export function notificationDocs(customerId: string, purchaseId: string, drafts: NotificationDraft[], createdAt = new Date().toISOString()): Notification[] {
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
