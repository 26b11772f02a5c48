import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextCursor } from '../client/index.js';
import type { Notification } from '../src/purchase/documents.js';
import { visa, type Customer, type HttpResult } from './helpers/customer.js';
import { expectProblem } from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/*
 * Contract §4.1 through HTTP: every list pages with ?limit and an opaque cursor, newest first,
 * Link: rel="next" while more remain, and never repeats or skips an older item while new ones
 * arrive. Every answer is also checked against /openapi.json by the customer's client.
 */

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

/** Async purchases: accepted in a few ms each, so a test can make dozens. */
async function buyMany(customer: Customer, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await customer.purchase(
      { items: [{ productId: 'gift-card', quantity: 1 }], payment: visa },
      { async: true },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    ids.push(res.body.id);
  }
  return ids;
}

/** Notifications written as the workers write them, each `stepMs` newer than the last. */
async function notify(
  customerId: string,
  n: number,
  opts: { from?: number; stepMs?: number; prefix?: string } = {},
): Promise<Notification[]> {
  const from = opts.from ?? Date.now() - n * 1000;
  const docs: Notification[] = [];
  for (let i = 0; i < n; i++) {
    const score = from + i * (opts.stepMs ?? 1);
    const doc: Notification = {
      id: `ntf_${opts.prefix ?? 'seed'}_${String(i).padStart(4, '0')}`,
      type: 'order_confirmation',
      customerId,
      purchaseId: `pur_seed_${i}`,
      message: `note ${i}`,
      details: {},
      createdAt: new Date(score).toISOString(),
    };
    await sys.stores.notifications.putOnce(doc);
    docs.push(doc);
  }
  return docs;
}

/** Follows Link: rel="next" from `first`, returning every page's answer. */
async function pages(customer: Customer, first: string): Promise<HttpResult[]> {
  const out: HttpResult[] = [];
  let path: string | undefined = first;
  while (path) {
    const res: HttpResult = await customer.get(path);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(res);
    const link: string | null = res.headers.get('link');
    path = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
    expect(out.length).toBeLessThan(100);
  }
  return out;
}

describe('lists: paging (contract §4.1)', () => {
  it("GET /v1/purchases lists the customer's purchases newest first, each as GET /v1/purchases/:id shows it, page by page", async () => {
    const alice = await sys.customer();
    const other = await sys.customer();
    const ids = await buyMany(alice, 17);
    await buyMany(other, 2);
    for (const id of ids) await alice.waitForTerminal(id);

    const answers = await pages(alice, '/v1/purchases?limit=5');
    expect(answers.map((a) => a.body.length)).toEqual([5, 5, 5, 2]);
    // A Link on every page but the last, RFC 8288 style, keeping the limit.
    for (const a of answers.slice(0, -1))
      expect(a.headers.get('link')).toMatch(/^<\/v1\/purchases\?limit=5&cursor=[\w.-]+>; rel="next"$/);
    expect(answers.at(-1)!.headers.get('link')).toBeNull();

    const listed = answers.flatMap((a) => a.body);
    expect(listed.map((p: any) => p.id)).toEqual([...ids].reverse());
    for (const view of listed) expect(view).toEqual(await alice.purchaseState(view.id));
    // The typed client's helper reads the same, through every page.
    expect((await alice.purchases()).map((p) => p.id)).toEqual([...ids].reverse());
  });

  it('never repeats or skips an older item while new ones arrive between pages', async () => {
    const bob = await sys.customer();
    const before = await buyMany(bob, 9);
    const first = await bob.get('/v1/purchases?limit=4');
    expect(first.body.map((p: any) => p.id)).toEqual(before.slice(-4).reverse());
    const newer = await buyMany(bob, 5);

    const rest = await pages(bob, /^<([^>]+)>/.exec(first.headers.get('link')!)![1]!);
    const seen = [...first.body, ...rest.flatMap((a) => a.body)].map((p: any) => p.id);
    expect(seen).toEqual([...before].reverse());
    expect(seen.some((id: string) => newer.includes(id))).toBe(false);
    // A fresh listing starts with the new ones.
    expect((await bob.get('/v1/purchases?limit=5')).body.map((p: any) => p.id)).toEqual([...newer].reverse());
  });

  it('serves 50 by default and 100 at most, with Link until the last page; orders, provisioned and notifications alike', async () => {
    const carol = await sys.customer();
    const seeded = await notify(carol.id, 120);
    const byDefault = await pages(carol, '/v1/notifications');
    expect(byDefault.map((a) => a.body.length)).toEqual([50, 50, 20]);
    expect(byDefault.flatMap((a) => a.body).map((n: any) => n.id)).toEqual(seeded.map((n) => n.id).reverse());
    expect(byDefault[0]!.body[0]).not.toHaveProperty('customerId');
    expect((await pages(carol, '/v1/notifications?limit=100')).map((a) => a.body.length)).toEqual([100, 20]);

    // Orders and the Product Store page through the same helper (one purchase after the other, so they are placed in order).
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await carol.buy('gift-card')).body.id);
    const orders = await pages(carol, '/v1/orders?limit=2');
    expect(orders.map((a) => a.body.length)).toEqual([2, 1]);
    expect(orders.flatMap((a) => a.body).map((o: any) => o.purchaseId)).toEqual([...ids].reverse());
    const units = await pages(carol, '/v1/provisioned?limit=2');
    expect(units.map((a) => a.body.length)).toEqual([2, 1]);
    expect(units.flatMap((a) => a.body).map((u: any) => u.purchaseId)).toEqual([...ids].reverse());
  });

  it('orders, units and notifications are newest first by their own createdAt, for purchases made side by side', async () => {
    const kim = await sys.customer();
    const ids = await Promise.all(
      Array.from({ length: 32 }, () =>
        kim.purchase({ items: [{ productId: 'basic-plan', quantity: 3 }], payment: visa }, { async: true }),
      ),
    ).then((answers) => answers.map((a) => a.body.id as string));
    for (const id of ids) expect((await kim.waitForTerminal(id)).status).toBe('completed');
    for (const [list, count] of [
      ['orders', 32],
      ['provisioned', 96],
      ['notifications', 32 * 3],
    ] as const) {
      const items = (await pages(kim, `/v1/${list}?limit=100`)).flatMap((a) => a.body);
      expect(items, list).toHaveLength(count);
      const times = items.map((i: any) => i.createdAt as string);
      // Newest first: each createdAt at or before the one listed above it.
      expect(times, list).toEqual([...times].sort().reverse());
    }
  });

  it('pages through items created in the same millisecond without losing one', async () => {
    const dave = await sys.customer();
    const seeded = await notify(dave.id, 23, { stepMs: 0 });
    const listed = (await pages(dave, '/v1/notifications?limit=4')).flatMap((a) => a.body).map((n: any) => n.id);
    expect(listed).toHaveLength(23);
    expect(new Set(listed).size).toBe(23);
    // Equal times: by id, descending, as Redis orders them.
    expect(listed).toEqual(
      seeded
        .map((n) => n.id)
        .sort()
        .reverse(),
    );
  });

  it('passes over purchases whose records expired and still fills every page but the last', async () => {
    const erin = await sys.customer();
    const ids = await buyMany(erin, 12);
    for (const id of ids) await erin.waitForTerminal(id);
    // Records expire RETENTION_S after they finish; the index entry may outlive one until it is trimmed.
    const gone = [ids[2]!, ids[5]!, ids[6]!, ids[7]!, ids[10]!];
    await sys.redis.del(...gone.map((id) => sys.stores.keys.purchase(id)));
    const answers = await pages(erin, '/v1/purchases?limit=3');
    expect(answers.map((a) => a.body.length)).toEqual([3, 3, 1]);
    expect(answers.flatMap((a) => a.body).map((p: any) => p.id)).toEqual(
      ids.filter((id) => !gone.includes(id)).reverse(),
    );
  });

  it('answers a bad limit or cursor with validation_error', async () => {
    const frank = await sys.customer();
    await notify(frank.id, 3);
    for (const limit of ['0', '101', '-1', '1.5', 'ten', '']) {
      const res = await frank.get(`/v1/notifications?limit=${limit}`);
      expectProblem(res, 400, 'validation_error');
      expect(res.body.detail).toMatch(/limit/);
    }
    const first = await frank.get('/v1/notifications?limit=1');
    const cursor = nextCursor(first.headers)!;
    expect((await frank.get(`/v1/notifications?limit=1&cursor=${cursor}`)).status).toBe(200);

    const [payload, mac] = cursor.split('.') as [string, string];
    const edited = Buffer.from(JSON.stringify([Date.now() + 60_000, 'ntf_zzz'])).toString('base64url');
    const grace = await sys.customer();
    await notify(grace.id, 3);
    for (const bad of [
      'garbage',
      `${payload}`,
      `${edited}.${mac}`,
      `${payload}.${mac.slice(1)}`,
      `${payload}.${mac}.x`,
    ]) {
      const res = await frank.get(`/v1/notifications?cursor=${encodeURIComponent(bad)}`);
      expectProblem(res, 400, 'validation_error');
      expect(res.body.detail).toMatch(/cursor/);
    }
    // A cursor belongs to its list and its customer.
    expectProblem(await frank.get(`/v1/orders?cursor=${cursor}`), 400, 'validation_error');
    expectProblem(await grace.get(`/v1/notifications?cursor=${cursor}`), 400, 'validation_error');
  });
});

describe('lists: the purchase index', () => {
  it('is trimmed at intake like the notifications index: nothing older than RETENTION_S stays listed', async () => {
    const short = await startTestSystem({ env: { RETENTION_S: '1' } });
    try {
      const customer = await short.customer();
      const res = await customer.buy('gift-card');
      expect(res.status).toBe(201);
      const index = short.stores.keys.purchasesByCustomer(customer.id);
      expect(await short.redis.zrange(index, 0, -1)).toEqual([res.body.id]);
      // Past the retention the record is gone; the next purchase trims the index entry with it.
      await expect
        .poll(() => short.redis.exists(short.stores.keys.purchase(res.body.id)), { timeout: 5_000, interval: 100 })
        .toBe(0);
      await expect.poll(() => customer.get('/v1/purchases').then((r) => r.body), { timeout: 5_000 }).toEqual([]);
      const next = await customer.buy('gift-card');
      expect(await short.redis.zrange(index, 0, -1)).toEqual([next.body.id]);
      expect((await customer.get('/v1/purchases')).body.map((p: any) => p.id)).toEqual([next.body.id]);
    } finally {
      await short.stop();
    }
  });
});
