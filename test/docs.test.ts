import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http as request } from './helpers/customer.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { launchChromium } from './helpers/browser.js';

const SCREENSHOT = path.resolve('test-output/docs.png');

describe('GET /docs: the API reference in a real browser', () => {
  let sys: TestSystem;
  let launched: Promise<Browser> | undefined;
  const browser = () => (launched ??= launchChromium('the /docs test'));

  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(async () => {
    await launched?.then((b) => b.close()).catch(() => {});
    await sys?.stop();
  });

  it('serves the page with a CSP that allows only its own origin, and the Swagger UI assets from the gateway itself', async () => {
    const page = await request<string>(`${sys.gatewayUrl}/docs`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self' 'sha256-[\w+/=]+'(;|$)/);
    // Every script and stylesheet the page names is on the gateway.
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual([
      '/docs/assets/swagger-ui-dist/swagger-ui.css',
      '/docs/assets/swagger-ui-dist/swagger-ui-bundle.js',
    ]);
    for (const asset of assets) expect((await fetch(`${sys.gatewayUrl}${asset}`)).status).toBe(200);
    // Only those two files of the package are served.
    expect((await fetch(`${sys.gatewayUrl}/docs/assets/swagger-ui-dist/package.json`)).status).toBe(404);
  });

  it('renders the operations of /openapi.json, with no request leaving the machine and no CSP violation', async () => {
    const context = await (await browser()).newContext({ viewport: { width: 1280, height: 1000 } });
    context.setDefaultTimeout(15_000);
    const outside: string[] = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1') return route.continue();
      outside.push(url.href);
      return route.abort();
    });
    try {
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (msg) => {
        if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
      });
      const docFetched = page.waitForResponse((r) => r.url() === `${sys.gatewayUrl}/openapi.json`);
      const res = await page.goto(`${sys.gatewayUrl}/docs`);
      expect(res?.status()).toBe(200);
      expect((await docFetched).status()).toBe(200);

      // Swagger UI built this from the document: its title, and the operations with their summaries.
      await page.getByRole('heading', { name: /Purchase API/ }).waitFor();
      const buy = page.locator('.opblock-post', { hasText: '/v1/purchases' }).first();
      await buy.waitFor();
      expect(await buy.innerText()).toContain('Buy products');
      for (const summary of [
        'Your purchases',
        'A purchase and its steps',
        'Your orders (Order Management System)',
        'Your provisioned products (Product Store)',
        'Your notifications',
      ]) {
        await page.getByText(summary, { exact: true }).first().waitFor();
      }
      // Opening an operation shows its parameters, from the route's zod schemas.
      await page.locator('.opblock-get', { hasText: 'Your orders' }).first().locator('.opblock-summary').click();
      await page.getByText('Items per page, 1–100.').first().waitFor();
      // And the schemas section lists the response bodies.
      await page.locator('.models').getByText('Purchase', { exact: true }).first().waitFor();

      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: false });
      expect(violations).toEqual([]);
      expect(outside).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
