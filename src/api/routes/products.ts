import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import type { AuthEnv } from '../middleware/auth.js';
import { productSchema } from '../response-schemas.js';
import { commonProblems, json, problem } from '../responses.js';
import { idParam } from '../schemas.js';
import { productView } from '../views.js';
import { apiApp } from '../../http/validation.js';

const list = createRoute({
  method: 'get',
  path: '/',
  summary: 'The catalog with available stock',
  description: 'The whole catalog, by id (it is not paged: the operator keeps it short).',
  tags: ['products'],
  responses: { 200: json(z.array(productSchema), 'Every product.'), ...commonProblems },
});

const getOne = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One product',
  tags: ['products'],
  request: { params: idParam },
  responses: {
    200: json(productSchema, 'The product.'),
    404: problem('Unknown product (not_found).'),
    ...commonProblems,
  },
});

/** The catalog. */
export function productRoutes(stores: Stores) {
  const app = apiApp<AuthEnv>();
  app.openapi(list, async (c) => c.json((await stores.catalog.list()).map(productView), 200));
  app.openapi(getOne, async (c) => {
    const product = await stores.catalog.get(c.req.valid('param').id);
    if (!product) throw new AppError('not_found', 'No such product.');
    return c.json(productView(product), 200);
  });
  return app;
}
