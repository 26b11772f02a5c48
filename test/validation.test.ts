import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http as request } from './helpers/customer.js';
import { basicAuth } from './helpers/deployment.js';
import { expectProblem, oneBasicPlan } from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

/*
 * One request-validation path (@hono/zod-openapi's, with the gateway's hook) for the customer
 * API, the operator routes and the auth server's /token: every bad request is the contract's
 * 400 validation_error with a detail a person can act on.
 */

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const send = (url: string, method: string, body: BodyInit | undefined, headers: Record<string, string>) =>
  request(url, { method, headers, body });

describe('request validation', () => {
  it('answers a purchase body that is not sent as JSON with validation_error', async () => {
    const customer = await sys.customer();
    const auth = { authorization: `Bearer ${customer.token}` };
    const body = JSON.stringify(oneBasicPlan());
    // Declared as text, and not declared at all (bytes: fetch adds no Content-Type for them).
    for (const [raw, headers] of [
      [body, { ...auth, 'content-type': 'text/plain' }],
      [new Blob([body]), auth],
    ] as const) {
      const res = await send(`${sys.gatewayUrl}/v1/purchases`, 'POST', raw, headers);
      expectProblem(res, 400, 'validation_error');
      expect(res.body.detail).toMatch(/JSON/);
    }
    const malformed = await send(`${sys.gatewayUrl}/v1/purchases`, 'POST', '{"items": [', {
      ...auth,
      'content-type': 'application/json',
    });
    expectProblem(malformed, 400, 'validation_error');
    expect(malformed.body.detail).toMatch(/JSON/);
    const unknown = await customer.purchase({ ...oneBasicPlan(), coupon: 'FREE' });
    expect(unknown.body.detail).toMatch(/coupon/);
    const range = await customer.purchase({
      items: [{ productId: 'basic-plan', quantity: 101 }],
      payment: { token: 'tok_visa' },
    });
    expect(range.body.detail).toMatch(/^items\.0\.quantity: /);
  });

  it('validates the operator routes the same way', async () => {
    const json = { 'content-type': 'application/json' };
    for (const [method, path, body, field] of [
      ['PUT', '/admin/products/basic-plan/stock', { stock: -1 }, /stock/],
      ['PUT', '/admin/products/basic-plan/stock', { stock: 5, extra: true }, /extra/],
      ['POST', '/admin/faults', { point: 'nowhere' }, /point/],
      ['POST', '/admin/faults', { point: 'order.place', times: 0 }, /times/],
    ] as const) {
      const res = await sys.admin(method, path, body);
      expectProblem(res, 400, 'validation_error');
      expect(res.body.detail).toMatch(field);
    }
    expectProblem(
      await send(`${sys.gatewayUrl}/admin/faults`, 'POST', '{', { ...json, authorization: basicAuth() }),
      400,
      'validation_error',
    );
    // And a good request still goes through.
    expect((await sys.admin('PUT', '/admin/products/gift-card/stock', { stock: 77 })).status).toBe(200);
    expect((await sys.stores.catalog.stock('gift-card')).available).toBe(77);
  });

  it('validates POST /token on the auth server the same way', async () => {
    const token = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      send(`${sys.authUrl}/token`, 'POST', body, headers);
    for (const [body, field] of [
      [JSON.stringify({ sub: '' }), /sub/],
      [JSON.stringify({ sub: 'a', ttlSeconds: 86_401 }), /ttlSeconds/],
      [JSON.stringify({ sub: 'a', admin: true }), /admin/],
      ['{"sub":', /JSON/],
    ] as const) {
      const res = await token(body);
      expectProblem(res, 400, 'validation_error');
      expect(res.body.detail).toMatch(field);
    }
    expectProblem(await token(JSON.stringify({ sub: 'a' }), {}), 400, 'validation_error');
    expect((await token(JSON.stringify({ sub: 'a' }))).status).toBe(200);
  });
});
