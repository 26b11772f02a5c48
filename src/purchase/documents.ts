/** The documents the saga writes for the customer: the order (OMS), Product Store units, notifications. */

export interface Order {
  id: string;
  purchaseId: string;
  customerId: string;
  items: { productId: string; quantity: number; unitPrice: number; customization: Record<string, unknown> }[];
  backordered: { productId: string; quantity: number; customization: Record<string, unknown> }[];
  total: { amount: number; currency: string };
  appliedRules: string[];
  status: 'placed' | 'canceled';
  createdAt: string;
  /** Set once the order is canceled (contract §4.3). */
  canceledAt?: string;
}

/**
 * A unit's standing at its partner: `pending` while a partner that answered 202 works (until its
 * callback or `until`), `established` once provisioned, `failed` when it said so (deprovisioned too),
 * `removed` once deprovisioned. `until` and `reason` are ours: customers see the status and the reference.
 */
export interface UnitIntegration {
  status: 'pending' | 'established' | 'failed' | 'removed';
  externalRef: string | null;
  /** A pending unit's deadline (ISO 8601): a callback after it changes nothing. */
  until?: string;
  /** Why the partner failed it. */
  reason?: string;
}

export interface ProvisionedProduct {
  id: string;
  productId: string;
  purchaseId: string;
  customerId: string;
  customization: Record<string, unknown>;
  /** The product this unit was provisioned for, when it is a dependency. */
  dependencyOf: string | null;
  integration: UnitIntegration | null;
  status: 'active' | 'deprovisioned';
  createdAt: string;
  updatedAt: string;
}

export const NOTIFICATION_TYPES = [
  'purchase_accepted',
  'order_confirmation',
  'product_provisioned',
  'partial_fulfillment',
  'out_of_stock',
  'payment_action_required',
  'payment_failed',
  'purchase_failed',
  'purchase_canceled',
  'order_canceled',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export interface Notification {
  id: string;
  type: NotificationType;
  customerId: string;
  purchaseId: string;
  message: string;
  details: Record<string, unknown>;
  createdAt: string;
}
