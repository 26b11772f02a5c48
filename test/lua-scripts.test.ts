import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import { createKeys, type Keys } from '../src/keys.js';
import { createStores, type Stores } from '../src/stores/domain-stores.js';
import type { ReserveLine } from '../src/stores/inventory-store.js';
import { defineCommands, SCRIPTS } from '../src/stores/lua/commands.js';
import { PurchaseIntake, type Intake } from '../src/stores/purchase-intake.js';

/*
 * Direct tests of each Lua script's edge cases on the suite's real redis-server, through the
 * store that runs it where the store is the public API, and by the registered command where an
 * edge case is only reachable that way. Every test has a key prefix of its own.
 */

const LUA_DIR = new URL('../src/stores/lua/', import.meta.url);

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

const PRODUCTS: Product[] = [
  { id: 'plan', name: 'Plan', price: { amount: 100, currency: 'USD' }, stock: 5, dependencies: [] },
  { id: 'gone', name: 'Sold out', price: { amount: 100, currency: 'USD' }, stock: 0, dependencies: [] },
  { id: 'ip', name: 'IP', price: { amount: 100, currency: 'USD' }, stock: 1, dependencies: [] },
  { id: 'server', name: 'Server', price: { amount: 100, currency: 'USD' }, stock: 5, dependencies: ['ip'] },
  {
    id: 'limited',
    name: 'Limited',
    price: { amount: 100, currency: 'USD' },
    stock: 10,
    dependencies: [],
    quotaPerCustomer: 2,
  },
];

interface Env {
  keys: Keys;
  stores: Stores;
  prefix: string;
}

/** Stores on a fresh key prefix, the catalog loaded. */
async function fresh(retentionS = 0): Promise<Env> {
  const prefix = `lua${randomUUID().slice(0, 8)}`;
  const keys = createKeys(prefix);
  const stores = createStores(redis, keys, retentionS);
  await stores.catalog.load(PRODUCTS);
  return { keys, stores, prefix };
}

/** A reservation line for `productId` as the plan would carry it (dependencies, quota). */
function line(productId: string, quantity: number): ReserveLine {
  const p = PRODUCTS.find((x) => x.id === productId)!;
  return { productId, quantity, dependencies: p.dependencies, quotaPerCustomer: p.quotaPerCustomer };
}

/** Every key under the prefix with its type and content, to show what a call wrote. */
async function snapshot(prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys(`${prefix}:*`)).sort()) {
    const type = await redis.type(key);
    if (type === 'hash') out[key] = await redis.hgetall(key);
    else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
    else out[key] = await redis.get(key);
  }
  return out;
}

async function conserved(env: Env, id: string): Promise<void> {
  const s = await env.stores.catalog.stock(id);
  expect(s.available + s.reserved + s.sold, `${id}: available + reserved + sold = stocked`).toBe(s.stocked);
  expect(Math.min(s.available, s.reserved, s.sold), `${id}: nothing below zero`).toBeGreaterThanOrEqual(0);
}

describe('the Lua loader', () => {
  it('registers every file in src/stores/lua under <name>-<numKeys>.lua, each with its header', () => {
    const files = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
    expect(SCRIPTS.map((s) => s.file).sort()).toEqual(files.sort());
    for (const s of SCRIPTS) {
      const [, count] = /-(\d+|n)\.lua$/.exec(s.file)!;
      expect(s.numberOfKeys, s.file).toBe(count === 'n' ? undefined : Number(count));
      expect(s.lua, s.file).toBe(readFileSync(new URL(s.file, LUA_DIR), 'utf8'));
      const header = s.lua.slice(0, s.lua.indexOf(']]'));
      expect(s.lua.startsWith('--[['), s.file).toBe(true);
      for (const part of ['Invariant:', 'KEYS[1]', 'ARGV', 'Returns'])
        expect(header, `${s.file} header names ${part}`).toContain(part);
      // Each declared key is listed: KEYS[1]…KEYS[n] for a fixed count.
      for (let i = 1; i <= (s.numberOfKeys ?? 1); i++) expect(header, s.file).toContain(`KEYS[${i}]`);
    }
  });

  it('defines the commands once per connection: a second definition changes nothing, MULTIs carry them', async () => {
    const conn = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    try {
      defineCommands(conn);
      const take = conn.takeFault;
      defineCommands(conn);
      createStores(conn, createKeys('unused'));
      expect(conn.takeFault).toBe(take);
      const key = `lua${randomUUID().slice(0, 8)}:fault:x`;
      await conn.hset(key, 'times', 1, 'mode', 'crash');
      expect(await conn.multi().takeFault(key).takeFault(key).exec()).toEqual([
        [null, 'crash'],
        [null, null],
      ]);
    } finally {
      await conn.quit();
    }
  });
});

describe('reserve-stock-n', () => {
  it('fulfils the lines in stock and marks the others out of stock (partial fulfilment)', async () => {
    const env = await fresh();
    expect(await env.stores.inventory.reserve('p1', 'c1', [line('plan', 2), line('gone', 1)])).toEqual({
      ok: true,
      lines: ['fulfilled', 'out_of_stock'],
    });
    expect(await env.stores.catalog.stock('plan')).toMatchObject({ available: 3, reserved: 2 });
    expect(await env.stores.catalog.stock('gone')).toMatchObject({ available: 0, reserved: 0 });
  });

  it('rejects a purchase with nothing in stock as out_of_stock and writes nothing', async () => {
    const env = await fresh();
    const before = await snapshot(env.prefix);
    expect(await env.stores.inventory.reserve('p1', 'c1', [line('gone', 1)])).toEqual({
      ok: false,
      error: 'out_of_stock',
    });
    expect(await snapshot(env.prefix)).toEqual(before);
    // Nothing was recorded, so once there is stock the same purchase reserves.
    await env.stores.catalog.setAvailable('gone', 1);
    expect(await env.stores.inventory.reserve('p1', 'c1', [line('gone', 1)])).toEqual({
      ok: true,
      lines: ['fulfilled'],
    });
  });

  it('rejects a missing dependency as missing_dependencies with the line index, reserving nothing', async () => {
    const env = await fresh();
    const before = await snapshot(env.prefix);
    // One IP: the second server's dependency is missing.
    expect(await env.stores.inventory.reserve('p1', 'c1', [line('plan', 1), line('server', 2)])).toEqual({
      ok: false,
      error: 'missing_dependencies',
      line: 1,
    });
    expect(await snapshot(env.prefix)).toEqual(before);
    // A later line sees what earlier lines took: the IP bought on line 0 is not there for line 1.
    expect(await env.stores.inventory.reserve('p2', 'c1', [line('ip', 1), line('server', 1)])).toEqual({
      ok: false,
      error: 'missing_dependencies',
      line: 1,
    });
    expect(await env.stores.inventory.reserve('p3', 'c1', [line('server', 1)])).toEqual({
      ok: true,
      lines: ['fulfilled'],
    });
    expect(await env.stores.catalog.stock('ip')).toMatchObject({ available: 0, reserved: 1 });
    expect(await env.stores.catalog.stock('server')).toMatchObject({ available: 4, reserved: 1 });
  });

  it('rejects an exceeded quota with the line index, summing lines of the same product and earlier purchases', async () => {
    const env = await fresh();
    const { inventory } = env.stores;
    expect(await inventory.reserve('p1', 'c1', [line('limited', 3)])).toEqual({
      ok: false,
      error: 'quota_exceeded',
      line: 0,
    });
    expect(await inventory.reserve('p2', 'c1', [line('plan', 1), line('limited', 1), line('limited', 2)])).toEqual({
      ok: false,
      error: 'quota_exceeded',
      line: 2,
    });
    expect(await inventory.quotaHeld('c1', 'limited')).toBe(0);
    expect(await env.stores.catalog.stock('plan')).toMatchObject({ available: 5, reserved: 0 });
    expect(await inventory.reserve('p3', 'c1', [line('limited', 1), line('limited', 1)])).toEqual({
      ok: true,
      lines: ['fulfilled', 'fulfilled'],
    });
    expect(await inventory.quotaHeld('c1', 'limited')).toBe(2);
    expect(await inventory.reserve('p4', 'c1', [line('limited', 1)])).toEqual({
      ok: false,
      error: 'quota_exceeded',
      line: 0,
    });
    // The quota is per customer.
    expect(await inventory.reserve('p5', 'c2', [line('limited', 2)])).toEqual({ ok: true, lines: ['fulfilled'] });
  });

  it('returns the first answer on a re-run without reserving twice', async () => {
    const env = await fresh();
    const { inventory } = env.stores;
    const first = await inventory.reserve('p1', 'c1', [line('plan', 2), line('gone', 1), line('limited', 1)]);
    expect(first).toEqual({ ok: true, lines: ['fulfilled', 'out_of_stock', 'fulfilled'] });
    await env.stores.catalog.setAvailable('gone', 5); // even when the answer would now differ
    expect(await inventory.reserve('p1', 'c1', [line('plan', 2), line('gone', 1), line('limited', 1)])).toEqual(first);
    expect(await env.stores.catalog.stock('plan')).toMatchObject({ available: 3, reserved: 2 });
    expect(await env.stores.catalog.stock('gone')).toMatchObject({ available: 5, reserved: 0 });
    expect(await inventory.quotaHeld('c1', 'limited')).toBe(1);
  });

  it('never takes stock below zero, within a purchase or across concurrent ones', async () => {
    const env = await fresh();
    const { inventory } = env.stores;
    expect(await inventory.reserve('p0', 'c0', [line('plan', 3), line('plan', 3)])).toEqual({
      ok: true,
      lines: ['fulfilled', 'out_of_stock'],
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => inventory.reserve(`p${i + 1}`, `c${i}`, [line('plan', 1)])),
    );
    expect(results.filter((r) => r.ok).length).toBe(2);
    expect(results.filter((r) => !r.ok)).toEqual(Array(4).fill({ ok: false, error: 'out_of_stock' }));
    expect(await env.stores.catalog.stock('plan')).toMatchObject({ available: 0, reserved: 5 });
    await conserved(env, 'plan');
  });

  it('takes its key count first and writes only the keys it is given', async () => {
    const env = await fresh();
    const { keys } = env;
    const before = await snapshot(env.prefix);
    const request = JSON.stringify({ lines: [{ p: 3, q: 1, deps: [2], qk: 4, quota: 2 }] });
    const declared = [
      keys.reservation('p1'),
      keys.stock('ip'),
      keys.stock('server'),
      keys.quota('c1', 'server'),
    ] as const;
    const raw = await redis.reserveStock(declared.length, ...declared, request);
    expect(JSON.parse(raw)).toEqual({ ok: true, lines: ['fulfilled'] });
    const after = await snapshot(env.prefix);
    const changed = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
    expect(changed.sort()).toEqual([...declared].sort());
    expect(JSON.parse(after[keys.reservation('p1')] as string)).toMatchObject({
      state: 'reserved',
      stock: { [keys.stock('ip')]: 1, [keys.stock('server')]: 1 },
      quota: { [keys.quota('c1', 'server')]: 1 },
    });
  });
});

describe('transition-reservation-1', () => {
  async function reserved(env: Env, id = 'p1') {
    expect(await env.stores.inventory.reserve(id, 'c1', [line('server', 1), line('limited', 2)])).toMatchObject({
      ok: true,
    });
  }

  it('commits once: a second commit moves nothing and reports committed', async () => {
    const env = await fresh();
    await reserved(env);
    expect(await env.stores.inventory.transition('p1', 'commit')).toBe('committed');
    expect(await env.stores.inventory.transition('p1', 'commit')).toBe('committed');
    expect(await env.stores.catalog.stock('server')).toMatchObject({ available: 4, reserved: 0, sold: 1 });
    expect(await env.stores.catalog.stock('limited')).toMatchObject({ available: 8, reserved: 0, sold: 2 });
    expect(await env.stores.inventory.quotaHeld('c1', 'limited')).toBe(2); // the customer keeps what was sold
    for (const id of ['server', 'ip', 'limited']) await conserved(env, id);
  });

  it('releases once, returning stock and quota; restock or commit after a release is a no-op', async () => {
    const env = await fresh();
    await reserved(env);
    expect(await env.stores.inventory.transition('p1', 'release')).toBe('released');
    const after = await snapshot(env.prefix);
    expect(await env.stores.inventory.transition('p1', 'release')).toBe('released');
    expect(await env.stores.inventory.transition('p1', 'restock')).toBe('released');
    expect(await env.stores.inventory.transition('p1', 'commit')).toBe('released');
    expect(await snapshot(env.prefix)).toEqual(after);
    expect(await env.stores.catalog.stock('server')).toMatchObject({ available: 5, reserved: 0, sold: 0 });
    expect(await env.stores.catalog.stock('ip')).toMatchObject({ available: 1, reserved: 0, sold: 0 });
    expect(await env.stores.inventory.quotaHeld('c1', 'limited')).toBe(0);
  });

  it('restocks a committed reservation once, returning the units sold and the quota', async () => {
    const env = await fresh();
    await reserved(env);
    await env.stores.inventory.transition('p1', 'commit');
    expect(await env.stores.inventory.transition('p1', 'restock')).toBe('restocked');
    expect(await env.stores.inventory.transition('p1', 'restock')).toBe('restocked');
    expect(await env.stores.catalog.stock('server')).toMatchObject({ available: 5, reserved: 0, sold: 0 });
    expect(await env.stores.catalog.stock('limited')).toMatchObject({ available: 10, reserved: 0, sold: 0 });
    expect(await env.stores.inventory.quotaHeld('c1', 'limited')).toBe(0);
    for (const id of ['server', 'ip', 'limited']) await conserved(env, id);
  });

  it('reports none for a purchase never reserved, writing nothing', async () => {
    const env = await fresh();
    const before = await snapshot(env.prefix);
    expect(await env.stores.inventory.transition('p1', 'release')).toBe('none');
    expect(await snapshot(env.prefix)).toEqual(before);
  });
});

describe('settle-reservation-1', () => {
  it('moves committed units to settled and drops the reservation, once', async () => {
    const env = await fresh();
    await env.stores.inventory.reserve('p1', 'c1', [line('server', 1)]);
    await env.stores.inventory.transition('p1', 'commit');
    expect(await env.stores.inventory.settle('p1')).toBe('committed');
    expect(await env.stores.inventory.settle('p1')).toBe('none');
    expect(await env.stores.inventory.settledUnits('server')).toBe(1);
    expect(await env.stores.inventory.settledUnits('ip')).toBe(1);
    expect(await redis.exists(env.keys.reservation('p1'))).toBe(0);
  });

  it('leaves a reservation still reserved in place, and drops a released one without settling it', async () => {
    const env = await fresh();
    await env.stores.inventory.reserve('p1', 'c1', [line('plan', 1)]);
    expect(await env.stores.inventory.settle('p1')).toBe('reserved');
    expect(await redis.exists(env.keys.reservation('p1'))).toBe(1);
    await env.stores.inventory.transition('p1', 'release');
    expect(await env.stores.inventory.settle('p1')).toBe('released');
    expect(await redis.exists(env.keys.reservation('p1'))).toBe(0);
    expect(await env.stores.inventory.settledUnits('plan')).toBe(0);
  });
});

describe('restock-settled-n', () => {
  it('returns the units and quota of a settled sale once, keeping a restocked marker; a second call moves nothing', async () => {
    const env = await fresh();
    const { inventory, catalog } = env.stores;
    const lines = [line('server', 1), line('limited', 2)];
    await inventory.reserve('p1', 'c1', lines);
    await inventory.transition('p1', 'commit');
    const sold = {
      server: await catalog.stock('server'),
      ip: await catalog.stock('ip'),
      limited: await catalog.stock('limited'),
    };
    await inventory.settle('p1');
    expect(await inventory.restockSettled('p1', 'c1', lines)).toBe('restocked');
    for (const id of ['server', 'ip', 'limited'] as const) {
      const s = await catalog.stock(id);
      const n = id === 'limited' ? 2 : 1;
      expect(s).toMatchObject({ available: sold[id].available + n, sold: sold[id].sold - n });
      expect(await inventory.settledUnits(id)).toBe(0);
      await conserved(env, id);
    }
    expect(await inventory.quotaHeld('c1', 'limited')).toBe(0);
    const after = await snapshot(env.prefix);
    expect(await inventory.restockSettled('p1', 'c1', lines)).toBe('restocked');
    expect(await inventory.transition('p1', 'restock')).toBe('restocked');
    // A settle that comes late (a crash between finish and settle) keeps the marker, so a retry moves nothing either.
    expect(await inventory.settle('p1')).toBe('restocked');
    expect(await inventory.restockSettled('p1', 'c1', lines)).toBe('restocked');
    expect(await snapshot(env.prefix)).toEqual(after);
  });

  it('leaves a reservation not yet settled to the ordinary restock, reporting its state', async () => {
    const env = await fresh();
    await env.stores.inventory.reserve('p1', 'c1', [line('plan', 1)]);
    await env.stores.inventory.transition('p1', 'commit');
    const before = await snapshot(env.prefix);
    expect(await env.stores.inventory.restockSettled('p1', 'c1', [line('plan', 1)])).toBe('committed');
    expect(await snapshot(env.prefix)).toEqual(before);
  });
});

type PurchaseRecord = Intake['record'];
/** A real step name, typed through the store's API (the step list may move). */
const STOCK_CHECK = 'stock_check' satisfies Parameters<Stores['purchases']['setStep']>[1];

function record(id: string, customerId = 'c1', createdAt = new Date()): PurchaseRecord {
  return {
    id,
    customerId,
    status: 'accepted',
    phase: 'running',
    createdAt: createdAt.toISOString(),
    updatedAt: createdAt.toISOString(),
    request: { items: [{ productId: 'plan', quantity: 1 }], outOfStock: 'remove', paymentToken: 'tok_visa', roles: [] },
    payment: { status: 'none', amount: 0, currency: 'USD' },
    // No step fields in the hash: they read back as pending.
    steps: {} as PurchaseRecord['steps'],
    undos: {},
  };
}

function acknowledgement(purchaseId: string, customerId = 'c1'): NonNullable<Intake['acknowledgement']> {
  return {
    id: `n-${purchaseId}`,
    type: 'purchase_accepted',
    customerId,
    purchaseId,
    message: 'accepted',
    details: {},
    createdAt: new Date().toISOString(),
  };
}

describe('update-purchase-3', () => {
  it('returns -1 for a missing record and creates nothing', async () => {
    const env = await fresh();
    const { keys } = env;
    const before = await snapshot(env.prefix);
    expect(await env.stores.purchases.patch('nope', { review: 'x' })).toBe(false);
    expect(
      await redis.updatePurchase(
        keys.purchase('nope'),
        keys.purchasesOpen(0),
        keys.purchasesInReview(0),
        '',
        keys.events,
        keys.progress,
        'nope',
        '',
        '',
        '',
        'review',
        'x',
      ),
    ).toBe(-1);
    expect(await snapshot(env.prefix)).toEqual(before);
  });

  it("applies guard '' in any phase, 'x' only in phase x and '!x' only outside it; a failed guard writes nothing", async () => {
    const env = await fresh();
    const { keys } = env;
    await new PurchaseIntake(redis, keys).accept({ record: record('p1') });
    const call = (guard: string, value: string) =>
      redis.updatePurchase(
        keys.purchase('p1'),
        keys.purchasesOpen(0),
        keys.purchasesInReview(0),
        guard,
        keys.events,
        keys.progress,
        'p1',
        '',
        '',
        '',
        'review',
        value,
      );
    expect(await call('compensating', 'a')).toBe(0);
    expect(await call('!running', 'b')).toBe(0);
    expect(await redis.hget(keys.purchase('p1'), 'review')).toBeNull();
    expect(await call('running', 'c')).toBe(1);
    expect(await call('!done', 'd')).toBe(1);
    expect(await call('', 'e')).toBe(1);
    expect(await redis.hget(keys.purchase('p1'), 'review')).toBe('e');
    // The store's finish is guarded '!done': a purchase ends once.
    expect(await env.stores.purchases.finish('p1', 'failed')).toBe(true);
    expect(await env.stores.purchases.finish('p1', 'completed')).toBe(false);
    expect(await env.stores.purchases.completeStep('p1', STOCK_CHECK)).toBe(false);
    expect(await env.stores.purchases.patch('p1', { review: 'manual_review' })).toBe(true);
    expect(await env.stores.purchases.get('p1')).toMatchObject({
      status: 'failed',
      phase: 'done',
      review: 'manual_review',
    });
  });

  it('keeps the review queue in the same write: flagged in, resolved out, flagged again back in', async () => {
    const env = await fresh();
    const { keys, stores } = env;
    await new PurchaseIntake(redis, keys).accept({ record: record('p1') });
    const queue = () => redis.zrange(keys.purchasesInReview(0), 0, -1);
    expect(await queue()).toEqual([]);
    expect(await stores.purchases.patch('p1', { review: 'manual_review' })).toBe(true);
    expect(await queue()).toEqual(['p1']);
    const flaggedAt = Number(await redis.zscore(keys.purchasesInReview(0), 'p1'));
    expect(Math.abs(flaggedAt - Date.now())).toBeLessThan(5_000);
    expect(await stores.purchases.inReviewCount()).toBe(1);
    expect(
      await stores.purchases.resolveReview('p1', {
        how: 'manual',
        by: 'op',
        at: new Date().toISOString(),
        note: 'fixed',
      }),
    ).toBe(true);
    expect(await queue()).toEqual([]);
    expect(await stores.purchases.patch('p1', { review: 'manual_review' })).toBe(true);
    expect(await queue()).toEqual(['p1']);
    // A purchase that does not exist is not queued.
    expect(await stores.purchases.patch('nope', { review: 'manual_review' })).toBe(false);
    expect(await queue()).toEqual(['p1']);
  });

  it('answers 2 instead of 1 once the customer asked to cancel: the runner sees it without a read', async () => {
    const env = await fresh();
    const { keys } = env;
    await new PurchaseIntake(redis, keys).accept({ record: record('p1') });
    const call = () =>
      redis.updatePurchase(
        keys.purchase('p1'),
        keys.purchasesOpen(0),
        keys.purchasesInReview(0),
        'running',
        keys.events,
        keys.progress,
        'p1',
        '',
        '',
        '',
        'review',
        'x',
      );
    expect(await call()).toBe(1);
    expect(await env.stores.purchases.requestCancel('p1', 'order_placement')).toBe('requested');
    expect(await call()).toBe(2);
    expect(await env.stores.purchases.completeStepSeeingCancel('p1', STOCK_CHECK)).toEqual({
      applied: true,
      cancelRequested: true,
    });
  });

  it('closing drops the purchase from the open set and starts the retention (0 keeps the record)', async () => {
    for (const retentionS of [60, 0]) {
      const env = await fresh(retentionS);
      await new PurchaseIntake(redis, env.keys).accept({ record: record('p1') });
      expect(await redis.zscore(env.keys.purchasesOpen(0), 'p1')).not.toBeNull();
      await env.stores.purchases.patch('p1', { review: 'x' }); // not closing: stays open, no expiry
      expect(await env.stores.purchases.openIds()).toEqual(['p1']);
      expect(await redis.ttl(env.keys.purchase('p1'))).toBe(-1);
      expect(await env.stores.purchases.finish('p1', 'completed')).toBe(true);
      expect(await env.stores.purchases.openIds()).toEqual([]);
      const ttl = await redis.ttl(env.keys.purchase('p1'));
      if (retentionS > 0) expect(ttl).toBeGreaterThan(0);
      else expect(ttl).toBe(-1);
    }
  });

  it("a conditional close waits while an undo's state is pending or retrying, and closes once each ended", async () => {
    const env = await fresh(60);
    const { purchases } = env.stores;
    await new PurchaseIntake(redis, env.keys).accept({ record: record('p1') });
    await purchases.recordUndo('p1', 'provisioning', { status: 'pending', attempts: 0, at: 'a' });
    await purchases.recordUndo('p1', 'payment', { status: 'retrying', attempts: 1, error: 'status: pending', at: 'b' });
    expect(await purchases.finish('p1', 'failed')).toBe(true);
    expect(await purchases.openIds()).toEqual(['p1']);
    await purchases.recordUndo('p1', 'provisioning', { status: 'failed', attempts: 3, error: 'x', at: 'c' });
    expect(await purchases.openIds()).toEqual(['p1']);
    // The last undo to end closes the purchase: its state is read, whatever else the JSON holds.
    await purchases.recordUndo('p1', 'payment', { status: 'done', attempts: 2, at: 'd' });
    expect(await purchases.openIds()).toEqual([]);
    expect(await redis.ttl(env.keys.purchase('p1'))).toBeGreaterThan(0);
  });

  it('publishes an applied update on progress, a terminal one also on the outcome channel with the record', async () => {
    const env = await fresh();
    const { keys } = env;
    await new PurchaseIntake(redis, keys).accept({ record: record('p1') });
    const sub = redis.duplicate();
    const got: Record<string, Record<string, unknown>[]> = { [keys.events]: [], [keys.progress]: [] };
    sub.on('message', (channel: string, message: string) =>
      got[channel]!.push(JSON.parse(message) as Record<string, unknown>),
    );
    try {
      await sub.subscribe(keys.events, keys.progress);
      await env.stores.purchases.setStep('p1', STOCK_CHECK, 'completed', '', { status: 'processing' });
      await env.stores.purchases.finish('p1', 'partially_fulfilled');
      const atFinish = await redis.hgetall(keys.purchase('p1'));
      expect(await env.stores.purchases.finish('p1', 'failed')).toBe(false); // guard fails: no event
      // Any later update of a finished record is terminal too: it goes on both channels. Sent
      // last, it shows the failed finish had its chance to publish and did not.
      await env.stores.purchases.patch('p1', { review: 'x' });
      await vi.waitFor(() => expect(got[keys.events]).toHaveLength(2));
      const [step, terminal, last] = got[keys.progress]!;
      expect(got[keys.progress]).toHaveLength(3);
      expect(step).toEqual({ id: 'p1', status: 'processing', step: STOCK_CHECK, stepStatus: 'completed' });
      expect(terminal).toMatchObject({ id: 'p1', status: 'partially_fulfilled' });
      expect(terminal).not.toHaveProperty('step');
      const pairs = terminal!.record as string[];
      expect(Object.fromEntries(pairs.flatMap((v, i) => (i % 2 ? [] : [[v, pairs[i + 1]]])))).toEqual(atFinish);
      expect(last).toMatchObject({ id: 'p1', status: 'partially_fulfilled' });
      expect(got[keys.events]).toEqual([terminal, last]);
    } finally {
      sub.disconnect();
    }
  });
});

describe('cancel-or-pivot-2', () => {
  const PIVOT_STEP = 'order_placement' satisfies Parameters<Stores['purchases']['setStep']>[1];

  it('a cancel recorded first makes the pivot claim answer canceled; nothing else is written on a refusal', async () => {
    const env = await fresh();
    await new PurchaseIntake(redis, env.keys).accept({ record: record('p1') });
    expect(await env.stores.purchases.requestCancel('p1', PIVOT_STEP)).toBe('requested');
    expect(await env.stores.purchases.requestCancel('p1', PIVOT_STEP)).toBe('already-requested');
    const before = await snapshot(env.prefix);
    expect(await env.stores.purchases.claimPivot('p1', PIVOT_STEP)).toBe('canceled');
    expect(await snapshot(env.prefix)).toEqual(before);
    expect((await env.stores.purchases.get('p1'))?.pivotClaimedAt).toBeUndefined();
  });

  it('a pivot claimed first makes the cancel answer placed; the claim is idempotent', async () => {
    const env = await fresh();
    await new PurchaseIntake(redis, env.keys).accept({ record: record('p1') });
    expect(await env.stores.purchases.claimPivot('p1', PIVOT_STEP)).toBe('claimed');
    const before = await snapshot(env.prefix);
    expect(await env.stores.purchases.requestCancel('p1', PIVOT_STEP)).toBe('placed');
    expect(await snapshot(env.prefix)).toEqual(before);
    expect(await env.stores.purchases.claimPivot('p1', PIVOT_STEP)).toBe('claimed');
    expect((await env.stores.purchases.get('p1'))?.cancelRequestedAt).toBeUndefined();
  });

  it('exactly one of a cancel and a claim sent together wins, every time', async () => {
    const env = await fresh();
    for (let i = 0; i < 20; i++) {
      const id = `r${i}`;
      await new PurchaseIntake(redis, env.keys).accept({ record: record(id) });
      const [cancel, claim] = await Promise.all([
        env.stores.purchases.requestCancel(id, PIVOT_STEP),
        env.stores.purchases.claimPivot(id, PIVOT_STEP),
      ]);
      expect([cancel, claim].sort()).toEqual(
        cancel === 'requested' ? ['canceled', 'requested'] : ['claimed', 'placed'],
      );
      const r = await env.stores.purchases.get(id);
      expect(Boolean(r?.cancelRequestedAt) !== Boolean(r?.pivotClaimedAt)).toBe(true);
    }
  });

  it('answers by state: a completed pivot step is placed, ended finished, failing failing, canceled canceled, none missing', async () => {
    const env = await fresh();
    const intake = new PurchaseIntake(redis, env.keys);
    const { purchases } = env.stores;
    for (const id of ['a', 'b', 'c', 'd']) await intake.accept({ record: record(id) });
    await purchases.setStep('a', PIVOT_STEP, 'completed');
    await purchases.finish('b', 'failed');
    await purchases.failStep('c', STOCK_CHECK, { code: 'purchase_failed', detail: 'x' });
    await purchases.finish('d', 'canceled');
    expect(await purchases.requestCancel('a', PIVOT_STEP)).toBe('placed');
    expect(await purchases.requestCancel('b', PIVOT_STEP)).toBe('finished');
    expect(await purchases.requestCancel('c', PIVOT_STEP)).toBe('failing');
    expect(await purchases.requestCancel('d', PIVOT_STEP)).toBe('canceled');
    expect(await purchases.requestCancel('nope', PIVOT_STEP)).toBe('missing');
    expect(await purchases.claimPivot('c', PIVOT_STEP)).toBe('stopped');
  });

  it('an order cancel is recorded once on a completed purchase: undos pending (a known one kept), open again, kept', async () => {
    const env = await fresh(60);
    const intake = new PurchaseIntake(redis, env.keys);
    const { purchases } = env.stores;
    await intake.accept({ record: record('p1') });
    await intake.accept({ record: record('p2') });
    expect(await purchases.requestOrderCancel('p1', ['payment'])).toBe('not-completed');
    await purchases.finish('p1', 'completed');
    expect(await purchases.openIds()).toEqual(['p2']);
    expect(await redis.ttl(env.keys.purchase('p1'))).toBeGreaterThan(0);
    await purchases.recordUndo('p1', 'provisioning', { status: 'done', attempts: 1, at: 'x' });
    expect(await purchases.requestOrderCancel('p1', ['payment', 'provisioning'])).toBe('requested');
    const r = (await purchases.get('p1'))!;
    expect(r.orderCancelRequestedAt).toBeDefined();
    expect(r.undos).toMatchObject({ payment: { status: 'pending' }, provisioning: { status: 'done', at: 'x' } });
    expect(await redis.ttl(env.keys.purchase('p1'))).toBe(-1);
    expect((await purchases.openIds()).sort()).toEqual(['p1', 'p2']);
    expect(await purchases.requestOrderCancel('p1', ['payment'])).toBe('already-requested');
    expect(await purchases.requestOrderCancel('nope', ['payment'])).toBe('missing');
    // update-purchase-3's conditional close waits for the order cancel to end too, not only the undos.
    await purchases.recordUndo('p1', 'payment', { status: 'done', attempts: 1, at: 'y' });
    expect((await purchases.openIds()).sort()).toEqual(['p1', 'p2']);
    await purchases.orderCanceled('p1');
    expect(await purchases.openIds()).toEqual(['p2']);
    expect(await redis.ttl(env.keys.purchase('p1'))).toBeGreaterThan(0);
  });
});

describe('accept-purchase-6', () => {
  it('writes the record, its open entry, the claim and the acknowledgement', async () => {
    const env = await fresh(60);
    const { keys } = env;
    const r = record('p1');
    const ack = acknowledgement('p1');
    const claim = { key: keys.idempotency('c1', 'k1'), value: 'p1', ttlS: 30 };
    expect(
      await new PurchaseIntake(redis, keys, 60).accept({ record: r, claim, acknowledgement: ack }),
    ).toBeUndefined();
    expect(await env.stores.purchases.get('p1')).toMatchObject({
      id: 'p1',
      status: 'accepted',
      phase: 'running',
      request: r.request,
      payment: r.payment,
    });
    expect(await redis.zscore(keys.purchasesOpen(0), 'p1')).toBe(String(Date.parse(r.createdAt)));
    expect(await redis.get(claim.key)).toBe('p1');
    expect(await redis.ttl(claim.key)).toBeGreaterThan(0);
    expect(JSON.parse((await redis.get(keys.notification(ack.id)))!)).toEqual(ack);
    expect(await redis.ttl(keys.notification(ack.id))).toBeGreaterThan(0);
    expect(await redis.zrange(keys.notificationsByCustomer('c1'), 0, -1)).toEqual([ack.id]);
  });

  it('a second accept with the same Idempotency-Key returns the first claim and writes nothing', async () => {
    const env = await fresh();
    const { keys } = env;
    const intake = new PurchaseIntake(redis, keys);
    const claim = (value: string) => ({ key: keys.idempotency('c1', 'k1'), value, ttlS: 30 });
    await intake.accept({ record: record('p1'), claim: claim('p1'), acknowledgement: acknowledgement('p1') });
    const before = await snapshot(env.prefix);
    expect(
      await intake.accept({ record: record('p2'), claim: claim('p2'), acknowledgement: acknowledgement('p2') }),
    ).toBe('p1');
    expect(await snapshot(env.prefix)).toEqual(before);
  });

  it('without a claim or an acknowledgement writes only the record, its open entry and its customer index entry', async () => {
    const env = await fresh();
    const before = await snapshot(env.prefix);
    expect(await new PurchaseIntake(redis, env.keys).accept({ record: record('p1') })).toBeUndefined();
    const after = await snapshot(env.prefix);
    expect(
      Object.keys(after)
        .filter((k) => !(k in before))
        .sort(),
    ).toEqual([env.keys.purchase('p1'), env.keys.purchasesOpen(0), env.keys.purchasesByCustomer('c1')].sort());
  });

  it("trims the customer's index of acknowledgements past retention; retention 0 keeps them", async () => {
    const env = await fresh();
    const { keys } = env;
    const now = new Date();
    await redis.zadd(
      keys.notificationsByCustomer('c1'),
      now.getTime() - 61_000,
      'old',
      now.getTime() - 30_000,
      'recent',
    );
    await new PurchaseIntake(redis, keys, 60).accept({
      record: record('p1', 'c1', now),
      acknowledgement: acknowledgement('p1'),
    });
    expect(await redis.zrange(keys.notificationsByCustomer('c1'), 0, -1)).toEqual(['recent', 'n-p1']);
    await new PurchaseIntake(redis, keys, 0).accept({
      record: record('p2', 'c1', now),
      acknowledgement: acknowledgement('p2'),
    });
    expect(await redis.zrange(keys.notificationsByCustomer('c1'), 0, -1)).toEqual(['recent', 'n-p1', 'n-p2']);
    expect(await redis.ttl(keys.notification('n-p2'))).toBe(-1);
  });
});

describe('take-fault-1', () => {
  it('takes each armed failure once, never counting below zero, with error as the default mode', async () => {
    const env = await fresh();
    const { faults } = env.stores;
    expect(await faults.take('payment.charge')).toBeNull();
    await faults.arm('payment.charge', 2, 'crash');
    expect([
      await faults.take('payment.charge'),
      await faults.take('payment.charge'),
      await faults.take('payment.charge'),
    ]).toEqual(['crash', 'crash', null]);
    expect(await redis.hget(env.keys.fault('payment.charge'), 'times')).toBe('0');
    await faults.arm('provision', 1);
    expect(await faults.take('provision')).toBe('error');
    // A hash without a mode (only reachable by hand) still fails as an error.
    await redis.hset(env.keys.fault('external'), 'times', 1);
    expect(await faults.take('external')).toBe('error');
    expect(await redis.takeFault(env.keys.fault('external'))).toBeNull();
  });
});

describe('payment-op-1', () => {
  /** A built-in provider's payment in `state`, written as prepare writes it. */
  async function payment(env: Env, state: string, extra: Record<string, unknown> = {}) {
    const key = env.keys.providerPayment(`pay_${randomUUID().replaceAll('-', '')}`);
    const p = { id: key, state, amount: 500, currency: 'USD', captured: 0, refunded: 0, capture: 'manual', ...extra };
    await redis.set(key, JSON.stringify(p));
    return key;
  }
  const op = async (key: string, name: Parameters<typeof redis.paymentOp>[1], to = '', reason = '', merge = '') =>
    JSON.parse((await redis.paymentOp(key, name, to, reason, merge))!) as Record<string, unknown>;

  it('moves a payment only from the states an operation applies to; from any other it answers it unchanged', async () => {
    const env = await fresh();
    const key = await payment(env, 'created');
    expect(await op(key, 'capture')).toMatchObject({ state: 'created', captured: 0 });
    expect(await op(key, 'authorize', 'hold')).toMatchObject({ state: 'authorized' });
    // A second authorize (a retry, another token) cannot change what the first one decided.
    expect(await op(key, 'authorize', 'failed', 'card declined')).toMatchObject({ state: 'authorized' });
    expect(await op(key, 'refund')).toMatchObject({ state: 'authorized', refunded: 0 });
    expect(await op(key, 'capture')).toMatchObject({ state: 'captured', captured: 500 });
    expect(await op(key, 'capture')).toMatchObject({ state: 'captured', captured: 500 });
    // Money taken is never voided: it is refunded, once.
    expect(await op(key, 'void')).toMatchObject({ state: 'captured' });
    expect(await op(key, 'refund')).toMatchObject({ state: 'refunded', captured: 500, refunded: 500 });
    expect(await op(key, 'refund')).toMatchObject({ state: 'refunded', refunded: 500 });
  });

  it('voids a hold once; a capture after it, or of a hold refused, takes nothing', async () => {
    const env = await fresh();
    const held = await payment(env, 'authorized');
    expect(await op(held, 'void')).toMatchObject({ state: 'voided', captured: 0 });
    expect(await op(held, 'capture')).toMatchObject({ state: 'voided', captured: 0 });
    const expiring = await payment(env, 'authorized', { captureRefused: true });
    expect(await op(expiring, 'capture')).toMatchObject({
      state: 'voided',
      captured: 0,
      reason: expect.stringMatching(/expired/),
    });
    // Automatic capture: a hold is taken at once; what the token adds is merged in the same step.
    const automatic = await payment(env, 'created', { capture: 'automatic' });
    expect(await op(automatic, 'authorize', 'hold', '', JSON.stringify({ captureRefused: true }))).toMatchObject({
      state: 'captured',
      captured: 500,
      captureRefused: true,
    });
    const declined = await payment(env, 'created');
    expect(await op(declined, 'authorize', 'failed', 'card declined')).toMatchObject({
      state: 'failed',
      reason: 'card declined',
    });
    // Closed without ever holding anything: voided, nothing captured.
    expect(await op(declined, 'void')).toMatchObject({ state: 'voided', captured: 0 });
    expect(await redis.paymentOp(env.keys.providerPayment('pay_missing'), 'void', '', '')).toBeNull();
  });

  it('authorize creates the payment it is given when there is none; nothing else creates one', async () => {
    const env = await fresh();
    const key = env.keys.providerPayment(`pay_${randomUUID().replaceAll('-', '')}`);
    const create = JSON.stringify({
      id: key,
      state: 'created',
      amount: 500,
      currency: 'USD',
      captured: 0,
      refunded: 0,
    });
    expect(await redis.paymentOp(key, 'capture', '', '', '', create)).toBeNull();
    expect(await redis.paymentOp(key, 'void', '', '', '', create)).toBeNull();
    expect(await redis.exists(key)).toBe(0);
    const merge = JSON.stringify({ captureRefused: true });
    expect(JSON.parse((await redis.paymentOp(key, 'authorize', 'hold', '', merge, create))!)).toMatchObject({
      state: 'authorized',
      amount: 500,
      captureRefused: true,
    });
    // Given again (a retry), the payment there wins: its state, not a fresh one.
    const again = JSON.parse((await redis.paymentOp(key, 'authorize', 'failed', 'card declined', '', create))!);
    expect(again).toMatchObject({ state: 'authorized', captureRefused: true });
    expect(JSON.parse((await redis.get(key))!)).toEqual(again);
  });
});

describe('partner-callback-1', () => {
  /** A Product Store unit whose partner integration stands as `integration`, as the provisioning step writes it. */
  async function unit(env: Env, integration: Record<string, unknown> | null) {
    const id = `unit-${randomUUID().slice(0, 8)}`;
    const at = '2026-12-07T00:00:00.000Z';
    await env.stores.provisioned.putOnce({
      id,
      productId: 'plan',
      purchaseId: 'p1',
      customerId: 'c1',
      customization: {},
      dependencyOf: null,
      integration: integration as never,
      status: 'active',
      createdAt: at,
      updatedAt: at,
    });
    return id;
  }
  const until = '2026-12-07T00:05:00.000Z';
  const before = new Date('2026-12-07T00:01:00.000Z');

  it("takes a pending unit's word once, before its deadline; the same word again is answered, nothing twice", async () => {
    const env = await fresh();
    const { partnerCallbacks, provisioned } = env.stores;
    const id = await unit(env, { status: 'pending', externalRef: 'ext-1', until });
    expect(await partnerCallbacks.record(id, { status: 'active', externalRef: 'vm-9' }, { now: before })).toBe('taken');
    expect((await provisioned.get(id))!.integration).toEqual({ status: 'established', externalRef: 'vm-9', until });
    expect(await partnerCallbacks.record(id, { status: 'active' }, { now: before })).toBe('again');
    // Another word after the first changes nothing.
    expect(await partnerCallbacks.record(id, { status: 'failed', reason: 'x' }, { now: before })).toBe('closed');
    expect((await provisioned.get(id))!.integration).toMatchObject({ status: 'established', externalRef: 'vm-9' });
    const failing = await unit(env, { status: 'pending', externalRef: null, until });
    expect(await partnerCallbacks.record(failing, { status: 'failed', reason: 'no capacity' }, { now: before })).toBe(
      'taken',
    );
    expect((await provisioned.get(failing))!.integration).toEqual({
      status: 'failed',
      externalRef: null,
      reason: 'no capacity',
      until,
    });
  });

  it('changes nothing past the deadline, for a unit never pending, removed, or missing', async () => {
    const env = await fresh();
    const { partnerCallbacks, provisioned } = env.stores;
    const late = await unit(env, { status: 'pending', externalRef: null, until });
    expect(await partnerCallbacks.record(late, { status: 'active' }, { now: new Date(until) })).toBe('closed');
    expect((await provisioned.get(late))!.integration).toMatchObject({ status: 'pending' });
    const atOnce = await unit(env, { status: 'established', externalRef: 'ext' });
    expect(await partnerCallbacks.record(atOnce, { status: 'active' }, { now: before })).toBe('closed');
    const removed = await unit(env, { status: 'removed', externalRef: null, until });
    expect(await partnerCallbacks.record(removed, { status: 'active' }, { now: before })).toBe('closed');
    const none = await unit(env, null);
    expect(await partnerCallbacks.record(none, { status: 'active' }, { now: before })).toBe('closed');
    expect(await partnerCallbacks.record('unit-missing', { status: 'active' }, { now: before })).toBe('missing');
  });

  it('once its purchase stopped running, takes no word, but answers a word taken before as taken', async () => {
    const env = await fresh();
    const { partnerCallbacks, provisioned } = env.stores;
    const pending = await unit(env, { status: 'pending', externalRef: null, until });
    expect(await partnerCallbacks.record(pending, { status: 'active' }, { take: false, now: before })).toBe('closed');
    expect((await provisioned.get(pending))!.integration).toMatchObject({ status: 'pending' });
    const failed = await unit(env, { status: 'failed', externalRef: null, reason: 'no capacity', until });
    expect(await partnerCallbacks.record(failed, { status: 'failed' }, { take: false, now: before })).toBe('again');
    expect(await partnerCallbacks.record(failed, { status: 'active' }, { take: false, now: before })).toBe('closed');
  });
});

describe('set-available-1', () => {
  it('sets available, moves stocked by the same delta and returns the old count', async () => {
    const env = await fresh();
    await env.stores.inventory.reserve('p1', 'c1', [line('plan', 2)]);
    await env.stores.inventory.transition('p1', 'commit');
    expect(await env.stores.catalog.setAvailable('plan', 10)).toBe(true);
    expect(await env.stores.catalog.stock('plan')).toEqual({ available: 10, reserved: 0, sold: 2, stocked: 12 });
    await conserved(env, 'plan');
    expect(await redis.setAvailable(env.keys.stock('plan'), 1)).toBe(10);
    expect(await env.stores.catalog.stock('plan')).toEqual({ available: 1, reserved: 0, sold: 2, stocked: 3 });
    // A stock hash that does not exist yet counts from zero.
    expect(await redis.setAvailable(env.keys.stock('new'), 4)).toBe(0);
    expect(await redis.hgetall(env.keys.stock('new'))).toEqual({ available: '4', stocked: '4' });
  });

  it('refuses an unknown product and writes nothing', async () => {
    const env = await fresh();
    const before = await snapshot(env.prefix);
    expect(await env.stores.catalog.setAvailable('nope', 3)).toBe(false);
    expect(await snapshot(env.prefix)).toEqual(before);
  });
});
