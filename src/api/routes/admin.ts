import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { createRoute, z } from '@hono/zod-openapi';
import type { Queue } from 'bullmq';
import { boardPrefix } from '../../queues/shard-queues.js';
import { basicAuth } from 'hono/basic-auth';
import type { PaymentProvider } from '../../adapters/payments.js';
import { runAudit } from '../../audit.js';
import { AppError } from '../../errors.js';
import { faultBody, stockBody } from '../schemas.js';
import { apiApp } from '../../http/validation.js';
import { consoleRoutes } from '../console/console.js';
import { adminPurchaseRoutes, operatorActions, type AdminPurchaseDeps } from './admin-purchases.js';

export interface AdminDeps extends AdminPurchaseDeps {
  password: string;
  faultInjection: boolean;
  /** Whose ledger the audit reconciles with ours. */
  provider: PaymentProvider;
}

/*
 * Operator routes are validated like the customer API's, but left out of its document
 * (contract §4.2 describes the customer API): `hide: true`.
 */
const jsonBody = <T extends z.ZodType>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });

const setStock = createRoute({
  method: 'put',
  path: '/products/{id}/stock',
  hide: true,
  request: { params: z.object({ id: z.string() }), body: jsonBody(stockBody) },
  responses: { 200: { description: 'The stock level after the change.' } },
});

const armFaults = createRoute({
  method: 'post',
  path: '/faults',
  hide: true,
  request: { body: jsonBody(faultBody) },
  responses: { 201: { description: 'Armed.' } },
});

/** Operator routes behind HTTP Basic: Bull Board, stock, fault injection. */
export function adminRoutes(deps: AdminDeps) {
  const app = apiApp();
  app.use('*', basicAuth({ username: deps.user, password: deps.password, realm: 'purchase-admin' }));

  const board = new HonoAdapter(serveStatic);
  board.setBasePath('/admin/queues');
  const adapter = (q: Queue) => new BullMQAdapter(q, { prefix: boardPrefix(deps.stores.keys, q) });
  createBullBoard({ queues: deps.queues.map(adapter), serverAdapter: board });
  app.route('/queues', board.registerPlugin());

  app.openapi(setStock, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await deps.stores.catalog.setAvailable(id, c.req.valid('json').stock)))
      throw new AppError('not_found', `No product ${id}.`);
    return c.json({ id, ...(await deps.stores.catalog.stock(id)) });
  });

  const operator = { ...deps, user: deps.user };
  app.route('/purchases', adminPurchaseRoutes(operator));
  app.route(
    '/',
    consoleRoutes({
      stores: deps.stores,
      lists: deps.lists,
      actions: operatorActions(operator),
      audit: () => runAudit(deps.stores, deps.provider),
    }),
  );

  app.get('/audit', async (c) => {
    const report = await runAudit(deps.stores, deps.provider);
    return c.json(report, report.violations.length === 0 ? 200 : 409);
  });

  if (deps.faultInjection) {
    app.openapi(armFaults, async (c) => {
      const body = c.req.valid('json');
      await deps.stores.faults.arm(body.point, body.times, body.mode);
      return c.json(body, 201);
    });
    app.delete('/faults', async (c) => {
      await deps.stores.faults.clear();
      return c.body(null, 204);
    });
  }
  return app;
}
