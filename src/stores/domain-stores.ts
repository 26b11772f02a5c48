import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { CatalogStore } from './catalog-store.js';
import { DocumentStore } from './document-store.js';
import { FaultStore } from './fault-store.js';
import { InventoryStore } from './inventory-store.js';
import { PurchaseStore } from './purchase-store.js';

export interface Order {
  id: string;
  purchaseId: string;
  customerId: string;
  items: { productId: string; quantity: number; unitPrice: number; customization: Record<string, unknown> }[];
  backordered: { productId: string; quantity: number; customization: Record<string, unknown> }[];
  total: { amount: number; currency: string };
  appliedRules: string[];
  status: 'placed';
  createdAt: string;
}

export interface ProvisionedProduct {
  id: string;
  productId: string;
  purchaseId: string;
  customerId: string;
  customization: Record<string, unknown>;
  /** The product this unit was provisioned for, when it is a dependency. */
  dependencyOf: string | null;
  integration: { status: 'established' | 'removed'; externalRef: string | null } | null;
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
  'payment_failed',
  'purchase_failed',
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

/** Every Redis-backed store, built once per connection. */
export type Stores = ReturnType<typeof createStores>;

/** `retentionS`: how long finished purchase records and notifications are kept (0 = forever). */
export function createStores(redis: Redis, keys: Keys, retentionS = 0) {
  return {
    redis,
    keys,
    catalog: new CatalogStore(redis, keys),
    inventory: new InventoryStore(redis, keys),
    purchases: new PurchaseStore(redis, keys, retentionS),
    orders: new DocumentStore<Order>(redis, keys.order, keys.ordersByCustomer),
    provisioned: new DocumentStore<ProvisionedProduct>(redis, keys.provisioned, keys.provisionedByCustomer),
    notifications: new DocumentStore<Notification>(redis, keys.notification, keys.notificationsByCustomer, retentionS),
    faults: new FaultStore(redis, keys),
  };
}
