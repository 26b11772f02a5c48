import { createRoute } from '@hono/zod-openapi';
import type { Stores } from '../../stores/domain-stores.js';
import { listQuery, listResponses, type Lists } from '../lists.js';
import type { AuthEnv } from '../middleware/auth.js';
import { provisionedSchema } from '../response-schemas.js';
import { apiApp } from '../../http/validation.js';
import { unitView } from '../views.js';

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'Your provisioned products (Product Store)',
  tags: ['provisioned'],
  request: { query: listQuery },
  responses: listResponses(provisionedSchema, 'The Product Store records of the customer'),
});

/** The customer's own Product Store records. */
export function provisionedRoutes(stores: Stores, lists: Lists) {
  const app = apiApp<AuthEnv>();
  app.openapi(list, async (c) => {
    const customerId = c.get('customer').id;
    const page = await lists.page(c, `provisioned:${customerId}`, c.req.valid('query'), (after, limit) =>
      stores.provisioned.pageByCustomer(customerId, after, limit),
    );
    return c.json(page.map(unitView), 200);
  });
  return app;
}
