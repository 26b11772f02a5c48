import { Hono, type Context } from 'hono';
import type { AuditReport } from '../../audit.js';
import { AppError } from '../../errors.js';
import type { Stores } from '../../stores/domain-stores.js';
import { PartnerStatusStore } from '../../stores/partner-status-store.js';
import type { Lists } from '../lists.js';
import { reviewLine } from '../operator.js';
import type { operatorActions } from '../routes/admin-purchases.js';
import { AuditPage, PurchasePage, ReviewQueue } from './pages.js';
import { PartnersPage } from './partners.js';

export interface ConsoleDeps {
  stores: Stores;
  lists: Lists;
  actions: ReturnType<typeof operatorActions>;
  /** The audit, reconciled with the payment provider's ledger. */
  audit(): Promise<AuditReport>;
}

/**
 * `GET /admin`: the operator console, server-rendered with hono/jsx (no client build, no script):
 * the review queue, the audit, the partners' circuits, a purchase's page with its steps and timeline,
 * retry and resolve as plain forms that redirect back. Mounted behind the admin routes' HTTP Basic; its
 * forms post only from its own pages (the browser's Origin must be this host), so another site cannot
 * drive them.
 */
export function consoleRoutes(deps: ConsoleDeps) {
  const app = new Hono();
  // Browsers send Sec-Fetch-Site; under the gateway's `Referrer-Policy: no-referrer` a same-origin
  // form post carries `Origin: null`, so that header alone cannot tell.
  const sameOrigin = (c: Context) => {
    const site = c.req.header('sec-fetch-site');
    const origin = c.req.header('origin');
    const refused = () => new AppError('validation_error', 'Cross-site form posts are refused.');
    if (site && site !== 'same-origin' && site !== 'none') throw refused();
    if (origin === 'null' && site !== 'same-origin') throw refused();
    if (origin && origin !== 'null' && (!URL.canParse(origin) || new URL(origin).host !== new URL(c.req.url).host))
      throw refused();
  };
  const page = (id: string, flash?: string) =>
    `/admin/console/purchases/${id}${flash ? `?flash=${encodeURIComponent(flash)}` : ''}`;

  app.get('/', async (c) => {
    // The same keyset pages and cursors as GET /admin/purchases?review=manual_review.
    const cursor = c.req.query('cursor');
    const found = await deps.stores.purchases.pageInReview(
      cursor ? deps.lists.decode('admin:review', cursor) : undefined,
      50,
    );
    const next = found.next
      ? `/admin?cursor=${encodeURIComponent(deps.lists.encode('admin:review', found.next))}`
      : undefined;
    return c.html(<ReviewQueue lines={found.items.map(reviewLine)} {...(next ? { next } : {})} />);
  });
  app.get('/console/audit', async (c) => c.html(<AuditPage report={await deps.audit()} />));
  const partners = new PartnerStatusStore(deps.stores.redis, deps.stores.keys);
  app.get('/console/partners', async (c) => c.html(<PartnersPage statuses={await partners.list()} />));
  app.get('/console/find', (c) => c.redirect(page((c.req.query('id') ?? '').trim()), 303));
  app.get('/console/purchases/:id', async (c) => {
    const flash = c.req.query('flash');
    return c.html(<PurchasePage v={await deps.actions.view(c.req.param('id'))} {...(flash ? { flash } : {})} />);
  });
  app.post('/console/purchases/:id/retry', async (c) => {
    sameOrigin(c);
    await deps.actions.retry(c.req.param('id'));
    return c.redirect(page(c.req.param('id'), 'Retry queued: what is left undone runs again.'), 303);
  });
  app.post('/console/purchases/:id/resolve', async (c) => {
    sameOrigin(c);
    const note = String((await c.req.parseBody()).note ?? '').trim();
    if (!note) throw new AppError('validation_error', 'note: say what you did.');
    await deps.actions.resolve(c.req.param('id'), note.slice(0, 2_000));
    return c.redirect(page(c.req.param('id'), 'Review resolved.'), 303);
  });
  return app;
}
