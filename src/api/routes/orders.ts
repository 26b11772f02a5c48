import { createRoute } from '@hono/zod-openapi';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import { listQuery, listResponses, type Lists } from '../lists.js';
import type { AuthEnv } from '../middleware/auth.js';
import { orderSchema } from '../response-schemas.js';
import { commonProblems, json, problem } from '../responses.js';
import { idParam } from '../schemas.js';
import { apiApp } from '../../http/validation.js';

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'Your orders (Order Management System)',
  tags: ['orders'],
  request: { query: listQuery },
  responses: listResponses(orderSchema, 'The orders of the customer'),
});

const getOne = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One order',
  tags: ['orders'],
  request: { params: idParam },
  responses: { 200: json(orderSchema, 'The order.'), 404: problem('Unknown id, or not yours (not_found).'), ...commonProblems },
});

/** The customer's own orders. */
export function orderRoutes(stores: Stores, lists: Lists) {
  const app = apiApp<AuthEnv>();
  app.openapi(list, async (c) => {
    const customerId = c.get('customer').id;
    return c.json(
      await lists.page(c, `orders:${customerId}`, c.req.valid('query'), (after, limit) =>
        stores.orders.pageByCustomer(customerId, after, limit),
      ),
      200,
    );
  });
  app.openapi(getOne, async (c) => {
    const order = await stores.orders.get(c.req.valid('param').id);
    if (!order || order.customerId !== c.get('customer').id) throw new AppError('not_found', 'No such order.');
    return c.json(order, 200);
  });
  return app;
}
