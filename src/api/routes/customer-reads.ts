import { Hono } from 'hono';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import type { AuthEnv } from '../middleware/auth.js';

/** Strips the owner field the store keeps for indexing. */
function publicDoc<T extends { customerId: string }>(doc: T, keepCustomer: boolean) {
  if (keepCustomer) return doc;
  const { customerId: _, ...rest } = doc;
  return rest;
}

/** The customer's own orders (OMS), Product Store records, notifications and the catalog. */
export function customerReadRoutes(stores: Stores) {
  const app = new Hono<AuthEnv>();
  const me = (c: { get(key: 'customer'): { id: string } }) => c.get('customer').id;

  app.get('/orders', async (c) => c.json(await stores.orders.listByCustomer(me(c))));
  app.get('/orders/:id', async (c) => {
    const order = await stores.orders.get(c.req.param('id'));
    if (!order || order.customerId !== me(c)) throw new AppError('not_found', 'No such order.');
    return c.json(order);
  });
  app.get('/provisioned', async (c) => c.json((await stores.provisioned.listByCustomer(me(c), 1_000)).map((d) => publicDoc(d, false))));
  app.get('/notifications', async (c) => c.json((await stores.notifications.listByCustomer(me(c))).map((d) => publicDoc(d, false))));

  app.get('/products', async (c) => c.json(await stores.catalog.list()));
  app.get('/products/:id', async (c) => {
    const product = await stores.catalog.get(c.req.param('id'));
    if (!product) throw new AppError('not_found', 'No such product.');
    return c.json(product);
  });
  return app;
}
