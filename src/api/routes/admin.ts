import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { runAudit } from '../../audit.js';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import { describeIssues, faultBody, stockBody } from '../schemas.js';

export interface AdminDeps {
  stores: Stores;
  queues: Queue[];
  user: string;
  password: string;
  faultInjection: boolean;
}

async function json(c: { req: { json(): Promise<unknown> } }): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new AppError('validation_error', 'The body must be valid JSON.');
  }
}

/** Operator routes behind HTTP Basic: Bull Board, stock, fault injection. */
export function adminRoutes(deps: AdminDeps) {
  const app = new Hono();
  app.use('*', basicAuth({ username: deps.user, password: deps.password, realm: 'purchase-admin' }));

  const board = new HonoAdapter(serveStatic);
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: deps.queues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
  app.route('/queues', board.registerPlugin());

  app.put('/products/:id/stock', async (c) => {
    const body = stockBody.safeParse(await json(c));
    if (!body.success) throw new AppError('validation_error', describeIssues(body.error));
    const id = c.req.param('id');
    if (!(await deps.stores.catalog.setAvailable(id, body.data.stock))) throw new AppError('not_found', `No product ${id}.`);
    return c.json({ id, ...(await deps.stores.catalog.stock(id)) });
  });

  app.get('/audit', async (c) => {
    const report = await runAudit(deps.stores);
    return c.json(report, report.violations.length === 0 ? 200 : 409);
  });

  if (deps.faultInjection) {
    app.post('/faults', async (c) => {
      const body = faultBody.safeParse(await json(c));
      if (!body.success) throw new AppError('validation_error', describeIssues(body.error));
      await deps.stores.faults.arm(body.data.point, body.data.times, body.data.mode);
      return c.json(body.data, 201);
    });
    app.delete('/faults', async (c) => {
      await deps.stores.faults.clear();
      return c.body(null, 204);
    });
  }
  return app;
}
