import { generateKeyPair, exportJWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Customer, getToken, http as request } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { freePort } from '../harness/free-port.js';
import {
  claims,
  expectProblem,
  expectRetryAfter,
  postPurchase,
  purchaseRecords,
  serveJwks,
  signingKey,
  timed,
} from './helpers/gateway.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

describe('gateway: authentication', () => {
  type Forge = (customerId: string) => Promise<string>;
  const forgeries: [string, Forge][] = [
    [
      'a token signed by another ES256 key under the real kid',
      async (sub) => {
        const { kid } = await signingKey(sys.authUrl);
        const { privateKey } = await generateKeyPair('ES256');
        return claims(sys, sub).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
      },
    ],
    [
      'an unsigned alg:none token',
      async (sub) =>
        new UnsecuredJWT({ roles: [] })
          .setIssuer(sys.config.AUTH_ISSUER)
          .setAudience(sys.config.AUTH_AUDIENCE)
          .setSubject(sub)
          .setIssuedAt()
          .setExpirationTime('10m')
          .encode(),
    ],
    [
      'an HS256 token keyed with the public key x coordinate',
      async (sub) => {
        const { kid, x } = await signingKey(sys.authUrl);
        return claims(sys, sub).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(x));
      },
    ],
    [
      'a token whose kid the Authentication Server never published',
      async (sub) => {
        const { privateKey } = await generateKeyPair('ES256');
        return claims(sys, sub).setProtectedHeader({ alg: 'ES256', kid: 'kid-nobody-published' }).sign(privateKey);
      },
    ],
    [
      'a genuine token whose payload was changed to another customer',
      async (sub) => {
        const [header, , signature] = (await getToken(sys.authUrl, 'someone-else')).split('.');
        const payload = Buffer.from(
          JSON.stringify({
            sub,
            roles: ['admin'],
            iss: sys.config.AUTH_ISSUER,
            aud: sys.config.AUTH_AUDIENCE,
            iat: Math.floor(Date.now() / 1000),
            exp: Math.floor(Date.now() / 1000) + 600,
          }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['a malformed token', async () => 'abc.def.ghi'],
    ['a token that is not a JWT at all', async () => 'not-a-jwt'],
  ];

  it.each(forgeries)('rejects %s with invalid_token and buys nothing', async (_name, forge) => {
    const sub = `cust-forged-${Math.random().toString(36).slice(2, 10)}`;
    const recordsBefore = await purchaseRecords(sys);
    const res = await postPurchase(sys.gatewayUrl, `Bearer ${await forge(sub)}`);
    expectProblem(res, 401, 'invalid_token');
    expect(await purchaseRecords(sys)).toBe(recordsBefore);
    expect(await sys.stores.orders.listByCustomer(sub)).toEqual([]);
  });

  it('rejects a non-Bearer Authorization header with invalid_token, and reads without a token with missing_token', async () => {
    expectProblem(
      await postPurchase(sys.gatewayUrl, `Basic ${Buffer.from('cust:pw').toString('base64')}`),
      401,
      'invalid_token',
    );
    for (const path of ['/v1/orders', '/v1/purchases/pur_x', '/v1/provisioned', '/v1/notifications', '/v1/products']) {
      expectProblem(await request(`${sys.gatewayUrl}${path}`), 401, 'missing_token');
    }
  });

  it('checks issuer and audience: a correctly signed token for another issuer or audience is invalid_token', async () => {
    // The gateway trusts a JWKS the test controls, so the test can sign tokens with a trusted key.
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'test-trusted', alg: 'ES256', use: 'sig' };
    const jwks = await serveJwks([jwk]);
    const gw = await startTestSystem({ env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: jwks.url } });
    try {
      const sub = `cust-trusted-${Date.now()}`;
      const sign = (over: { iss?: string; aud?: string } = {}) =>
        claims(gw, sub, over).setProtectedHeader({ alg: 'ES256', kid: 'test-trusted' }).sign(privateKey);
      // Control: the right issuer and audience under the trusted key buys.
      expect((await postPurchase(gw.gatewayUrl, `Bearer ${await sign()}`)).status).toBe(201);
      expectProblem(
        await postPurchase(gw.gatewayUrl, `Bearer ${await sign({ iss: 'https://evil.example' })}`),
        401,
        'invalid_token',
      );
      expectProblem(
        await postPurchase(gw.gatewayUrl, `Bearer ${await sign({ aud: 'another-api' })}`),
        401,
        'invalid_token',
      );
      const noSub = await new SignJWT({})
        .setIssuer(gw.config.AUTH_ISSUER)
        .setAudience(gw.config.AUTH_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('10m')
        .setProtectedHeader({ alg: 'ES256', kid: 'test-trusted' })
        .sign(privateKey);
      expectProblem(await postPurchase(gw.gatewayUrl, `Bearer ${noSub}`), 401, 'invalid_token');
      expect(await gw.stores.orders.listByCustomer(sub)).toHaveLength(1);
    } finally {
      await gw.stop();
      await jwks.stop();
    }
  });

  it('picks up a rotated Authentication Server key without a gateway restart', async () => {
    const port = await freePort();
    const jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    let auth = await startTestSystem({ env: { ROLES: 'auth', AUTH_PORT: String(port) } });
    const gw = await startTestSystem({
      env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: jwksUrl, AUTH_JWKS_COOLDOWN_MS: '0' },
    });
    try {
      const sub = `cust-rotation-${Date.now()}`;
      const before = await Customer.login(gw.gatewayUrl, auth.authUrl, sub);
      const oldKid = (await signingKey(auth.authUrl)).kid;
      expect((await before.buy('basic-plan')).status).toBe(201);

      await auth.stop();
      // While the Authentication Server is down, cached keys keep verifying tokens.
      expect((await before.buy('basic-plan')).status).toBe(201);

      auth = await startTestSystem({ env: { ROLES: 'auth', AUTH_PORT: String(port) } });
      const newKid = (await signingKey(auth.authUrl)).kid;
      expect(newKid).not.toBe(oldKid);
      const after = await Customer.login(gw.gatewayUrl, auth.authUrl, sub);
      const res = await after.buy('basic-plan');
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(await after.orders()).toHaveLength(3);
      // The old key is no longer published, so tokens signed with it stop working.
      expectProblem(await before.get('/v1/orders'), 401, 'invalid_token');
    } finally {
      await gw.stop();
      await auth.stop();
    }
  });

  it('answers service_unavailable in bounded time when the Authentication Server hangs or answers 5xx', async () => {
    const authServer = await startFakeService('hang');
    const gw = await startTestSystem({
      env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: authServer.url, AUTH_TIMEOUT_MS: '500' },
    });
    try {
      const sub = `cust-hang-${Date.now()}`;
      const token = await getToken(sys.authUrl, sub);
      const [hung, ms] = await timed(() => postPurchase(gw.gatewayUrl, `Bearer ${token}`));
      expectProblem(hung, 503, 'service_unavailable');
      expectRetryAfter(hung);
      expect(ms).toBeLessThan(5_000);
      expect(authServer.requests.length).toBeGreaterThan(0); // it did ask the Authentication Server

      // A failing Authentication Server is unavailable too: the customer's token is not "invalid".
      for (const status of [500, 503]) {
        authServer.set({ status });
        const asked = authServer.requests.length;
        const failing = await postPurchase(gw.gatewayUrl, `Bearer ${token}`);
        expect(authServer.requests.length).toBeGreaterThan(asked);
        expectProblem(failing, 503, 'service_unavailable');
        expectRetryAfter(failing);
      }
      expect(await purchaseRecords(gw)).toBe(0);
      expect(await gw.stores.orders.listByCustomer(sub)).toEqual([]);
    } finally {
      await gw.stop();
      await authServer.stop();
    }
  });
});
