import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { examplePartner } from '../examples/partner.js';
import { newPartnerSecret } from './helpers/partner.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/** The example partner of docs/partners.md, as a partner would run it, against the system. */
describe('the example partner (docs/partners.md)', () => {
  const secret = newPartnerSecret();
  const partner = examplePartner(secret, { workMs: 200 });
  let url: string;
  let sys: TestSystem;
  beforeAll(async () => {
    await new Promise<void>((r) => partner.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/provision`;
    sys = await startTestSystem({
      catalog: [
        {
          id: 'crm-tenant',
          name: 'CRM tenant',
          price: { amount: 4900, currency: 'USD' },
          stock: 100,
          dependencies: [],
          integration: { url, secretEnv: 'EXAMPLE_PARTNER_SECRET' },
        },
      ],
      env: { EXAMPLE_PARTNER_SECRET: secret, WAIT_CHECK_MS: '120000' },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    partner.closeAllConnections();
    await new Promise((r) => partner.close(r));
  });

  it('provisions asynchronously: 202, its signed callback, and the purchase completes; an unsigned call is refused', async () => {
    const customer = await sys.customer();
    const res = await customer.buy('crm-tenant');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed', payment: { status: 'captured', amount: 4900 } });
    const [unit] = await customer.provisioned();
    expect(unit).toMatchObject({
      status: 'active',
      integration: { status: 'established', externalRef: `ex-${unit.id}` },
    });
    const forged = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ event: 'deprovision', provisionedId: unit.id }),
    });
    expect(forged.status).toBe(401);
  });
});
