/** The demo's customer: drives the public API and checks what it sees against the scenario's expected outcome. */
import { randomUUID } from 'node:crypto';
import { createApiClient, listAll, type ApiClient, type Schemas } from '../client/index.js';

export interface DemoOptions {
  gatewayUrl: string;
  authUrl: string;
  adminUser?: string;
  adminPassword?: string;
}

export interface DemoRow {
  scenario: string;
  httpStatus: string;
  outcome: string;
  payment: string;
  order: string;
  provisioned: string;
  notifications: string;
  ok: boolean;
  skipped: boolean;
  /** What did not match the expected outcome (empty when `ok`). */
  problems: string[];
}

/** What the customer can see of one purchase attempt. */
interface Seen {
  status: number;
  /** True when the answer was 202 and the status URL was polled to the end. */
  polled: boolean;
  body: any;
  headers: Headers;
  view?: any;
  orders: any[];
  provisioned: any[];
  notifications: string[];
}

export interface Expected {
  status: number;
  outcome: string;
  payment: string;
  order: boolean;
  provisioned?: { count: number; status: 'active' | 'deprovisioned' };
  notifications?: string[];
  /** Units whose external integration answered (sample catalog: `analytics`). */
  integrations?: number;
  /** Out-of-stock lines left out of a partial fulfilment, as the customer chose. */
  left?: { removed: string[]; backordered: string[] };
}

const TERMINAL = ['completed', 'partially_fulfilled', 'failed', 'canceled'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every item of one of the customer's lists, all pages (the typed client follows Link: rel="next"). */
const everything = (api: ApiClient, path: '/v1/orders' | '/v1/provisioned' | '/v1/notifications') =>
  listAll<any>((cursor) => api.GET(path, { params: { query: { limit: 100, cursor } } })).catch(() => []);

/** A fresh demo customer: `demo-<scenario>-<random>`, with its own token. */
export async function customer(o: DemoOptions, scenario: string) {
  const sub = `demo-${scenario}-${randomUUID().slice(0, 8)}`;
  const res = await fetch(`${o.authUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, ttlSeconds: 600 }),
  });
  if (res.status !== 200) throw new Error(`token for ${sub}: HTTP ${res.status}`);
  const api = createApiClient(o.gatewayUrl, (await res.json()).access_token);
  const purchase = async (id: string): Promise<any> => {
    const { data, error } = await api.GET('/v1/purchases/{id}', { params: { path: { id } } });
    return data ?? error;
  };
  return {
    async buy(body: Purchase, headers: Record<string, string> = {}): Promise<Answer> {
      const { data, error, response } = await api.POST('/v1/purchases', { body, headers });
      return { status: response.status, headers: response.headers, body: data ?? error };
    },
    /** Polls the status URL until the purchase is terminal (30 s at most). */
    async poll(id: string): Promise<any> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const view = await purchase(id);
        if (TERMINAL.includes(view?.status) || Date.now() > deadline) return view;
        await sleep(100);
      }
    },
    /** Polls the status URL until `until` holds (10 s at most). */
    async waitFor(id: string, until: (view: any) => boolean): Promise<any> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const view = await purchase(id);
        if (until(view) || TERMINAL.includes(view?.status) || Date.now() > deadline) return view;
        await sleep(20);
      }
    },
    /** POST /v1/purchases/:id/cancel. */
    async cancel(id: string): Promise<Answer> {
      const { data, error, response } = await api.POST('/v1/purchases/{id}/cancel', { params: { path: { id } } });
      return { status: response.status, headers: response.headers, body: data ?? error };
    },
    /** POST /v1/orders/:id/cancel. */
    async cancelOrder(id: string): Promise<Answer> {
      const { data, error, response } = await api.POST('/v1/orders/{id}/cancel', { params: { path: { id } } });
      return { status: response.status, headers: response.headers, body: data ?? error };
    },
    /** Every order of this customer, whatever the purchase. */
    allOrders: (): Promise<any[]> => everything(api, '/v1/orders'),
    async look(res: Answer): Promise<Seen> {
      const id = res.body?.id ?? res.body?.purchaseId;
      const mine = (list: any) => (Array.isArray(list) ? list.filter((x) => x.purchaseId === id) : []);
      const [view, orders, provisioned, notifications] = await Promise.all([
        id ? purchase(id) : undefined,
        everything(api, '/v1/orders'),
        everything(api, '/v1/provisioned'),
        everything(api, '/v1/notifications'),
      ]);
      return {
        ...res,
        polled: res.status === 202,
        view,
        orders: mine(orders),
        provisioned: mine(provisioned),
        // Newest first on the wire; oldest first reads better.
        notifications: mine(notifications)
          .map((n: any) => n.type)
          .reverse(),
      };
    },
  };
}
type DemoCustomer = Awaited<ReturnType<typeof customer>>;
/** A purchase request, as the document describes it. */
export type Purchase = Schemas['PurchaseRequest'];
export type Answer = { status: number; headers: Headers; body: any };

export const card = (token = 'tok_visa') => ({ token });
export const item = (productId: string, quantity = 1, customization?: Record<string, unknown>) => ({
  productId,
  quantity,
  ...(customization ? { customization } : {}),
});
export const domain = () => ({ domain: `demo-${randomUUID().slice(0, 6)}.example` });

/** The problem's code, or the purchase's status (its error code once failed). */
export const outcomeOf = (seen: Seen): string =>
  seen.body?.code ?? (seen.view?.status === 'failed' ? seen.view.error?.code : seen.view?.status) ?? '-';

function mismatches(seen: Seen, want: Expected): string[] {
  const out: string[] = [];
  // A sync purchase past SYNC_TIMEOUT_MS answers 202; then the polled outcome is what counts.
  if (seen.status !== want.status && !(seen.polled && want.status !== 202))
    out.push(`HTTP ${seen.status}, expected ${want.status}`);
  if (outcomeOf(seen) !== want.outcome) out.push(`outcome ${outcomeOf(seen)}, expected ${want.outcome}`);
  if ((seen.view?.payment?.status ?? 'none') !== want.payment)
    out.push(`payment ${seen.view?.payment?.status}, expected ${want.payment}`);
  if (seen.orders.length > 0 !== want.order)
    out.push(`${seen.orders.length} orders, expected ${want.order ? 'one' : 'none'}`);
  const units = want.provisioned ? seen.provisioned.filter((p) => p.status === want.provisioned!.status).length : 0;
  if (units !== (want.provisioned?.count ?? 0) || seen.provisioned.length !== units)
    out.push(
      `provisioned ${describeUnits(seen.provisioned)}, expected ${want.provisioned?.count ?? 0} ${want.provisioned?.status ?? ''}`.trim(),
    );
  for (const type of want.notifications ?? [])
    if (!seen.notifications.includes(type)) out.push(`no ${type} notification`);
  const established = seen.provisioned.filter(
    (p) => p.integration?.status === 'established' && p.integration.externalRef,
  ).length;
  if (want.integrations !== undefined && established !== want.integrations)
    out.push(`${established} integrations established, expected ${want.integrations}`);
  if (want.left) {
    const left = {
      removed: (seen.view?.removed ?? []).map((l: any) => l.productId),
      backordered: (seen.view?.backordered ?? []).map((l: any) => l.productId),
    };
    if (JSON.stringify(left) !== JSON.stringify(want.left))
      out.push(`left out ${JSON.stringify(left)}, expected ${JSON.stringify(want.left)}`);
  }
  return out;
}

function describeUnits(units: any[]): string {
  if (units.length === 0) return '-';
  const by = new Map<string, number>();
  for (const u of units) by.set(u.status, (by.get(u.status) ?? 0) + 1);
  return [...by].map(([status, n]) => `${n} ${status}`).join(', ');
}

function describeNotes(types: string[]): string {
  const counts = new Map<string, number>();
  for (const t of types) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].map(([t, n]) => (n > 1 ? `${t}×${n}` : t)).join(', ') || '-';
}

/**
 * Follows a 202 to the end, then looks (again, as notifications and undo jobs
 * finish just after the answer) until it matches or 5 s pass.
 */
export async function settle(c: DemoCustomer, res: Answer, want: Expected) {
  if (res.status === 202 && res.body?.id) await c.poll(res.body.id);
  const deadline = Date.now() + 5_000;
  for (;;) {
    const seen = await c.look(res);
    const problems = mismatches(seen, want);
    if (problems.length === 0 || Date.now() > deadline) return { seen, problems };
    await sleep(100);
  }
}

export function row(
  scenario: string,
  seen: Seen,
  problems: string[],
  httpStatus = seen.polled ? '202 → polled' : String(seen.status),
  outcome = outcomeOf(seen),
): DemoRow {
  return {
    scenario,
    httpStatus,
    outcome,
    payment: seen.view?.payment?.status ?? '-',
    order: seen.orders.length ? seen.orders.map((o) => o.status).join(', ') : '-',
    provisioned: describeUnits(seen.provisioned),
    notifications: describeNotes(seen.notifications),
    ok: problems.length === 0,
    skipped: false,
    problems,
  };
}

export type Scenario = (o: DemoOptions) => Promise<DemoRow>;

/** One purchase by a fresh customer, checked against what should happen. */
export const simple =
  (name: string, body: Purchase, want: Expected): Scenario =>
  async (o) => {
    const c = await customer(o, name);
    const { seen, problems } = await settle(c, await c.buy(body), want);
    return row(name, seen, problems);
  };

export const done = (units: number, ...notes: string[]): Expected => ({
  status: 201,
  outcome: 'completed',
  payment: 'captured',
  order: true,
  provisioned: { count: units, status: 'active' },
  notifications: ['order_confirmation', ...notes],
});
export const refused = (status: number, code: string, payment = 'none', notes: string[] = []): Expected => ({
  status,
  outcome: code,
  payment,
  order: false,
  notifications: notes,
});
