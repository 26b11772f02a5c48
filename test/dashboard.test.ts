import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageJobId } from '../src/ids.js';
import { QUEUES } from '../src/queues/contract.js';
import { ROOT_STAGE, SAGA, START_STAGE } from '../src/saga/saga.js';
import { TEST_ADMIN } from './helpers/deployment.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { launchChromium } from './helpers/browser.js';

const SCREENSHOT = path.resolve('test-output/bull-board.png');

/** A browser context that only talks to loopback (Bull Board's page links Google Fonts). */
async function loopbackContext(
  browser: Browser,
  credentials?: { username: string; password: string },
): Promise<BrowserContext> {
  const context = await browser.newContext({
    ...(credentials ? { httpCredentials: credentials } : {}),
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  return context;
}

describe('Bull Board in a real browser', () => {
  let sys: TestSystem;
  let launched: Promise<Browser> | undefined;
  // Launched by the tests themselves, so a missing chromium fails each of them (not a skip) with the message above.
  const browser = () => (launched ??= launchChromium('the Bull Board test'));

  beforeAll(async () => {
    sys = await startTestSystem();
  });

  afterAll(async () => {
    await launched?.then((b) => b.close()).catch(() => {});
    await sys?.stop();
  });

  it('shows every queue and the flow of a completed purchase to the operator', async () => {
    const customer = await sys.customer();
    const bought = await customer.buy('basic-plan');
    expect(bought.status, JSON.stringify(bought.body)).toBe(201);
    expect(bought.body.status).toBe('completed');
    const rootJob = stageJobId(bought.body.id, ROOT_STAGE.name);
    const flowStages = SAGA.filter((s) => s !== START_STAGE);

    const context = await loopbackContext(await browser(), {
      username: TEST_ADMIN.user,
      password: TEST_ADMIN.password,
    });
    try {
      const page: Page = await context.newPage();
      const res = await page.goto(`${sys.gatewayUrl}/admin/queues`);
      expect(res?.status()).toBe(200);

      // Every queue of the contract is listed (the board rendered them from its API, not from static HTML).
      for (const name of Object.values(QUEUES)) {
        await page.getByRole('link', { name, exact: true }).first().waitFor();
      }
      const body = await page.locator('body').innerText();
      for (const name of Object.values(QUEUES)) expect(body).toContain(name);

      // Open the orchestrator queue, then its completed jobs.
      await page.getByRole('link', { name: 'orchestrator', exact: true }).first().click();
      await page.waitForURL(/\/admin\/queues\/queue\/orchestrator/);
      await page
        .getByRole('link', { name: /^completed/i })
        .first()
        .click();
      await page.waitForURL(/status=completed/);

      // The purchase's root job is there; open it.
      await page.getByRole('link', { name: rootJob, exact: true }).click();
      await page.waitForURL(new RegExp(`/admin/queues/queue/orchestrator/${rootJob}(\\?|$)`));

      // The job page shows the job id, and its flow: the root with every stage after `prepare` below it, all completed.
      await page.getByText('Job flow').waitFor();
      expect(await page.locator('body').innerText()).toContain(rootJob);
      const nodes = page.locator('.react-flow__node');
      await nodes.nth(flowStages.length - 1).waitFor();
      const flow = await nodes.allInnerTexts();
      expect(flow).toHaveLength(flowStages.length);
      for (const stage of flowStages) {
        const node = flow.find((text) => text.split('\n')[0] === stage.job);
        expect(node, `flow node ${stage.job}`).toBeDefined();
        expect(node).toContain(stage.queue);
        expect(node).toMatch(/completed/i);
      }

      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('answers 401 with a Basic challenge to a browser without credentials', async () => {
    const context = await loopbackContext(await browser());
    try {
      const page = await context.newPage();
      const url = `${sys.gatewayUrl}/admin/queues`;
      // A browser with nothing to answer the challenge with gives up on the navigation.
      const [res, navigation] = await Promise.all([
        page.waitForResponse((r) => r.url() === url),
        page.goto(url).then(
          () => 'loaded',
          (err: Error) => err.message,
        ),
      ]);
      expect(res.status()).toBe(401);
      // The challenge is what makes a browser offer its login prompt.
      expect(res.headers()['www-authenticate']).toMatch(/^Basic realm=/);
      expect(navigation).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect(await page.locator('body').innerText()).not.toContain('orchestrator');
    } finally {
      await context.close();
    }
  });
});
