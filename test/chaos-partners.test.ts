import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Product } from '../src/catalog/catalog-file.js';
import { visa, type Customer } from './helpers/customer.js';
import { providerPaymentOf } from './helpers/gateway.js';
import { newPartnerSecret, startTestPartner, type TestPartner } from './helpers/partner.js';
import { startProcesses, type ProcessDeployment } from './helpers/processes.js';

/*
 * A purchase waiting on a partner's callback holds no worker and lives in Redis only: every process
 * may die (kill -9) while it waits. A callback taken while no worker runs is not lost, and the
 * deadline still fires when the processes come back.
 */

const catalog = (partnerUrl: string, callbackTimeoutS: number): Product[] => [
  {
    id: 'vm',
    name: 'Virtual machine',
    price: { amount: 1500, currency: 'USD' },
    stock: 1000,
    dependencies: [],
    integration: { url: partnerUrl, secretEnv: 'PARTNER_VM_SECRET', callbackTimeoutS },
  },
];

describe('chaos: waiting on a partner through kill -9 of every process', () => {
  let partner: TestPartner;
  let deployment: ProcessDeployment | undefined;
  beforeAll(async () => {
    partner = await startTestPartner({ secret: newPartnerSecret(), behaviour: { async: 'never' } });
  });
  afterEach(async () => {
    await deployment?.stop();
    deployment = undefined;
  });
  afterAll(async () => {
    await partner?.stop();
  });

  const start = (callbackTimeoutS: number) =>
    startProcesses({
      catalog: catalog(partner.url, callbackTimeoutS),
      workers: 1,
      // Only a callback or the deadline may wake the purchase here, not its own check.
      env: { PARTNER_VM_SECRET: partner.secret!, WAIT_CHECK_MS: '120000', PURCHASE_DEADLINE_MS: '600000' },
    });

  async function waitingPurchase(c: ProcessDeployment, customer: Customer): Promise<string> {
    const res = await customer.purchase({ items: [{ productId: 'vm', quantity: 1 }], payment: visa }, { async: true });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    await vi.waitFor(async () => expect((await c.stores.purchases.get(id))?.steps.provisioning).toBe('waiting'), {
      timeout: 20_000,
      interval: 100,
    });
    return id;
  }

  async function killEverything(c: ProcessDeployment) {
    await Promise.all([c.gateway.kill9(), ...c.workers.splice(0).map((w) => w.kill9())]);
  }

  it('a callback taken while every workers process is dead is not lost: the purchase completes once one is back', async () => {
    const c = (deployment = await start(300));
    const customer = await c.customer('callback-while-down');
    const id = await waitingPurchase(c, customer);
    await killEverything(c);
    await c.restartGateway();

    const call = partner.calls.find((x) => x.body?.purchaseId === id)!;
    expect((await partner.callBack(call, { status: 'active', externalRef: 'vm-7' })).status).toBe(204);
    // Taken, with no worker to act on it: the purchase still waits.
    expect((await customer.purchaseState(id)).status).toBe('processing');

    await c.addWorkers();
    expect(await customer.waitForTerminal(id, 30_000)).toMatchObject({
      status: 'completed',
      payment: { status: 'captured' },
    });
    expect(await customer.provisioned()).toMatchObject([
      { integration: { status: 'established', externalRef: 'vm-7' } },
    ]);
    expect((await c.settle(30_000)).violations).toEqual([]);
  }, 90_000);

  it('the deadline fires after every process was killed while the purchase waited: failed, money first', async () => {
    const c = (deployment = await start(3));
    const customer = await c.customer('deadline-while-down');
    const id = await waitingPurchase(c, customer);
    await killEverything(c);
    // Down past the deadline.
    await new Promise((r) => setTimeout(r, 3_500));
    await c.restartGateway();
    await c.addWorkers();

    const done = await customer.waitForSettled(id, 30_000);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'purchase_failed' }, payment: { status: 'voided' } });
    expect(await providerPaymentOf(c, id)).toMatchObject({ state: 'voided', captured: 0 });
    const call = partner.calls.find((x) => x.body?.purchaseId === id && x.body?.event === 'provision')!;
    await vi.waitFor(
      () =>
        expect(
          partner.calls.some(
            (x) => x.body?.provisionedId === call.body.provisionedId && x.body?.event === 'deprovision',
          ),
        ).toBe(true),
      { timeout: 20_000, interval: 100 },
    );
    expect((await partner.callBack(call, { status: 'active' })).status).toBe(409);
    expect((await c.settle(30_000)).violations).toEqual([]);
  }, 90_000);
});
