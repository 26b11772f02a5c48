import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';
import type { Notification, Order, ProvisionedProduct } from '../purchase/documents.js';
import { CatalogStore } from './catalog-store.js';
import { DocumentStore } from './document-store.js';
import { FaultStore } from './fault-store.js';
import { InventoryStore } from './inventory-store.js';
import { PartnerCallbackStore } from './partner-callback-store.js';
import { PurchaseStore } from './purchase-store.js';

/** Every Redis-backed store, built once per connection. */
export type Stores = ReturnType<typeof createStores>;

/** `retentionS`: how long finished purchase records and notifications are kept (0 = forever). */
export function createStores(redis: RedisClient, keys: Keys, retentionS = 0) {
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
    partnerCallbacks: new PartnerCallbackStore(redis, keys),
  };
}
