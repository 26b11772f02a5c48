import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import type { Customer } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { purchaseWithOrderLost } from './helpers/lost-writes.js';
import { flaggedPurchase } from './helpers/review.js';
import { basicAuth, TEST_ADMIN } from './helpers/deployment.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

const SCREENSHOT = path.resolve('test-output/operator-console.png');

/** The operator console (GET /admin) in headless Chromium: the review queue, a purchase's timeline, retry and resolve. */
describe('Feature: the operator console in a real browser', () => {
  let sys: TestSystem;
  let partner: Awaited<ReturnType<typeof startFakeService>>;
  let launched: Promise<Browser> | undefined;
  const browser = () => (launched ??= launchChromium('the operator console test'));

  beforeAll(async () => {
    partner = await startFakeService('ok');
    sys = await startTestSystem({ catalog: testCatalog(partner.url) });
  });
  afterAll(async () => {
    await launched?.then((b) => b.close()).catch(() => {});
    await sys?.stop();
    await partner?.stop();
  });

  async function operator(): Promise<BrowserContext> {
    const context = await (
      await browser()
    ).newContext({
      httpCredentials: { username: TEST_ADMIN.user, password: TEST_ADMIN.password },
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(10_000);
    await context.route('**/*', (route) =>
      new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
    );
    return context;
  }

  const flagged = (customer: Customer) => flaggedPurchase(customer, partner);

  it('lists the purchases needing review; a purchase page shows its timeline and links to Bull Board; retry resolves it', async () => {
    const customer = await sys.customer();
    const id = await flagged(customer);
    const context = await operator();
    try {
      const page = await context.newPage();
      expect((await page.goto(`${sys.gatewayUrl}/admin`))?.status()).toBe(200);
      const queue = page.getByRole('table', { name: 'review queue' });
      await queue.getByRole('link', { name: id }).waitFor();
      expect(await queue.innerText()).toContain('compensation of provisioning failed');

      await queue.getByRole('link', { name: id }).click();
      await page.waitForURL(new RegExp(`/admin/console/purchases/${id}$`));
      const text = await page.locator('body').innerText();
      expect(text).toContain(customer.id);
      expect(text).toMatch(/manual_review/);
      // The timeline: the steps and the undo steps, with their times and outcomes, in time order.
      const timeline = page.getByRole('region', { name: 'timeline' });
      const rows = await timeline.locator('tbody tr').allInnerTexts();
      expect(rows.some((r) => /undo provisioning\s+failed\s+5 attempts/.test(r))).toBe(true);
      expect(rows.some((r) => /undo payment\s+done/.test(r))).toBe(true);
      expect(rows.some((r) => /^\S+\s+provisioning\s+failed/.test(r))).toBe(true);
      const times = rows.map((r) => r.split('\t')[0]!.trim());
      expect([...times].sort()).toEqual(times);
      // A job's row links to it in Bull Board, which opens it.
      const link = timeline.getByRole('link', { name: 'job provisioning/deprovision' });
      expect(await link.getAttribute('href')).toBe(`/admin/queues/queue/provisioning/${id}-undo-provisioning`);
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);

      // The partner is back: retry from the page.
      await page.getByRole('button', { name: 'Retry what is left undone' }).click();
      await page.getByRole('status').waitFor();
      expect(await page.getByRole('status').innerText()).toContain('Retry queued');
      await vi.waitFor(
        async () => {
          await page.reload();
          expect(await page.getByRole('region', { name: 'review' }).innerText()).toMatch(/Resolved \(retry\)/);
        },
        { timeout: 15_000, interval: 200 },
      );
      await link.click();
      await page.waitForURL(/\/admin\/queues\/queue\/provisioning\//);
      await page.getByText(`${id}-undo-provisioning`).first().waitFor();
    } finally {
      await context.close();
    }
  });

  it('resolves a review by hand with a note, kept with who and when, and it leaves the queue', async () => {
    const customer = await sys.customer();
    const id = await flagged(customer);
    const context = await operator();
    try {
      const page = await context.newPage();
      await page.goto(`${sys.gatewayUrl}/admin/console/purchases/${id}`);
      await page.getByRole('textbox', { name: 'note' }).fill('unit removed by hand at the partner');
      await page.getByRole('button', { name: 'Mark resolved' }).click();
      await page.getByRole('status').waitFor();
      const review = await page.getByRole('region', { name: 'review' }).innerText();
      expect(review).toContain(`Resolved (manual) by ${TEST_ADMIN.user}`);
      expect(review).toContain('unit removed by hand at the partner');
      await page.goto(`${sys.gatewayUrl}/admin`);
      expect(await page.locator('body').innerText()).not.toContain(id);
      // A form posted from another site is refused.
      const forged = await fetch(`${sys.gatewayUrl}/admin/console/purchases/${id}/retry`, {
        method: 'POST',
        headers: {
          authorization: basicAuth(),
          origin: 'https://evil.example',
        },
      });
      expect(forged.status).toBe(400);
    } finally {
      await context.close();
    }
  });

  it('the audit page names a purchase whose order was lost; its Retry places the order again', async () => {
    const { customer, id, placed } = await purchaseWithOrderLost(sys);
    const context = await operator();
    try {
      const page = await context.newPage();
      await page.goto(`${sys.gatewayUrl}/admin`);
      await page.getByRole('link', { name: 'Audit' }).click();
      await page.waitForURL(/\/admin\/console\/audit$/);
      expect(await page.getByRole('region', { name: 'violations' }).innerText()).toContain(
        `purchase ${id}: charged with no order and no refund`,
      );
      const named = page.getByRole('region', { name: 'purchases named' });
      await named.getByRole('link', { name: id }).waitFor();

      await named.getByRole('button', { name: `Retry ${id}` }).click();
      await page.waitForURL(new RegExp(`/admin/console/purchases/${id}\\?flash=`));
      expect(await page.getByRole('status').innerText()).toContain('Retry queued');
      await vi.waitFor(async () => expect((await customer.orders()).map((o) => o.id)).toEqual([placed.id]), {
        timeout: 10_000,
        interval: 100,
      });
      await page.goto(`${sys.gatewayUrl}/admin/console/audit`);
      expect(await page.locator('body').innerText()).not.toContain(id);
    } finally {
      await context.close();
    }
  });
});
