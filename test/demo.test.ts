import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable, runDemo, type DemoRow } from '../scripts/demo.js';
import { readCatalogFile } from '../src/catalog/catalog-file.js';
import { TEST_ADMIN } from './helpers/deployment.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/** True when something accepts connections on the sample catalog's integration address. */
function integrationListening(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(4000, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** What a customer sees in each scenario, independent of the demo's own expectations. */
const SEEN: Record<string, Pick<DemoRow, 'httpStatus' | 'outcome' | 'payment' | 'order' | 'provisioned'>> = {
  success: { httpStatus: '201', outcome: 'completed', payment: 'captured', order: 'placed', provisioned: '2 active' },
  'multiple-products': {
    httpStatus: '201',
    outcome: 'completed',
    payment: 'captured',
    order: 'placed',
    provisioned: '3 active',
  },
  'out-of-stock': { httpStatus: '409', outcome: 'out_of_stock', payment: 'none', order: '-', provisioned: '-' },
  'invalid-product': { httpStatus: '422', outcome: 'invalid_product', payment: 'none', order: '-', provisioned: '-' },
  'missing-customization': {
    httpStatus: '422',
    outcome: 'incomplete_customization',
    payment: 'none',
    order: '-',
    provisioned: '-',
  },
  'declined-card': { httpStatus: '402', outcome: 'payment_failed', payment: 'declined', order: '-', provisioned: '-' },
  'partial-remove': {
    httpStatus: '201',
    outcome: 'partially_fulfilled',
    payment: 'captured',
    order: 'placed',
    provisioned: '1 active',
  },
  'partial-backorder': {
    httpStatus: '201',
    outcome: 'partially_fulfilled',
    payment: 'captured',
    order: 'placed',
    provisioned: '1 active',
  },
  'quota-exceeded': {
    httpStatus: '201, 201, 409',
    outcome: 'quota_exceeded',
    payment: 'none',
    order: '-',
    provisioned: '-',
  },
  'async-polling': {
    httpStatus: '202 → polled',
    outcome: 'accepted → completed',
    payment: 'captured',
    order: 'placed',
    provisioned: '1 active',
  },
  '3ds-approved': {
    httpStatus: '202 → approved',
    outcome: 'requires_action → completed',
    payment: 'captured',
    order: 'placed',
    provisioned: '1 active',
  },
  'idempotent-replay': {
    httpStatus: '201, 201 (replayed)',
    outcome: 'completed',
    payment: 'captured',
    order: 'placed',
    provisioned: '1 active',
  },
  'cancel-in-flight': {
    httpStatus: '202, cancel 200',
    outcome: 'canceled',
    payment: 'voided',
    order: '-',
    provisioned: '1 deprovisioned',
  },
  'cancel-order': {
    httpStatus: '201, cancel 200',
    outcome: 'completed',
    payment: 'refunded',
    order: 'canceled',
    provisioned: '1 deprovisioned',
  },
  rollback: {
    httpStatus: '502',
    outcome: 'purchase_failed',
    payment: 'voided',
    order: '-',
    provisioned: '2 deprovisioned',
  },
};

describe('npm run demo', () => {
  let sys: TestSystem;

  beforeAll(async () => {
    // The bundled sample catalog, as `npm start` serves it: analytics calls 127.0.0.1:4000, which the demo serves.
    sys = await startTestSystem({ catalog: await readCatalogFile(path.resolve('src/catalog/sample-catalog.json')) });
  });

  afterAll(async () => {
    await sys?.stop();
  });

  it('drives every seed scenario against the sample catalog, each matching its expected outcome', async () => {
    const portWasFree = !(await integrationListening());

    const rows = await runDemo({
      gatewayUrl: sys.gatewayUrl,
      authUrl: sys.authUrl,
      adminUser: TEST_ADMIN.user,
      adminPassword: TEST_ADMIN.password,
    });

    expect(rows.map((r) => r.scenario)).toEqual(Object.keys(SEEN));
    for (const r of rows) {
      // The demo's own verdict: nothing differed from the scenario's expected outcome, nothing skipped.
      expect({ scenario: r.scenario, ok: r.ok, skipped: r.skipped, problems: r.problems }).toEqual({
        scenario: r.scenario,
        ok: true,
        skipped: false,
        problems: [],
      });
      expect(r).toMatchObject(SEEN[r.scenario]!);
    }
    // Each product of the multi-product purchase was provisioned, analytics through the demo's integration service.
    expect(rows.find((r) => r.scenario === 'multiple-products')!.notifications).toContain('product_provisioned×3');
    // The table has a header, a rule and one line per scenario, each marked as matching.
    const table = formatTable(rows).split('\n');
    expect(table[0]).toMatch(
      /scenario\s+\| HTTP status\s+\| code\/status\s+\| payment\s+\| order\s+\| provisioned\s+\| notifications/,
    );
    expect(table.slice(2).map((line) => line[0])).toEqual(rows.map(() => '✓'));
    // The demo stopped the integration service it started.
    if (portWasFree) expect(await integrationListening()).toBe(false);
  });

  it('skips the rollback without an admin password, and still runs every other scenario', async () => {
    const rows = await runDemo({ gatewayUrl: sys.gatewayUrl, authUrl: sys.authUrl });
    const rollback = rows.find((r) => r.scenario === 'rollback')!;
    expect(rollback).toMatchObject({ skipped: true, ok: true, outcome: 'skipped: no ADMIN_PASSWORD' });
    expect(rows.filter((r) => r.scenario !== 'rollback').every((r) => r.ok && !r.skipped)).toBe(true);
  });
});
