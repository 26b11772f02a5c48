import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeyRing, MAX_TOKEN_TTL_S } from '../src/auth/key-ring.js';
import { getToken, http as request } from './helpers/customer.js';
import { freePort } from '../harness/free-port.js';
import { expectProblem, oneBasicPlan, postPurchase } from './helpers/gateway.js';
import { startRole, writeCatalog } from './helpers/processes.js';
import { basicAuth } from './helpers/deployment.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

/*
 * Contract §2 (v1.1): the auth role's signing keys persist in Redis, shared by every auth
 * process; a restart keeps tokens valid; a rotation publishes the new key and keeps the old
 * one until its tokens have expired, and gateways that cached the old JWKS keep working.
 */

const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const jwksKids = async (authUrl: string) =>
  ((await request(`${authUrl}/.well-known/jwks.json`)).body.keys as { kid: string }[]).map((k) => k.kid);
const basic = basicAuth();
const rotate = (authUrl: string, authorization?: string) =>
  request(`${authUrl}/admin/keys/rotate`, { method: 'POST', headers: authorization ? { authorization } : {} });
const ordersWith = (gatewayUrl: string, token: string) =>
  request(`${gatewayUrl}/v1/orders`, { headers: { authorization: `Bearer ${token}` } });

describe('auth: signing keys that persist (contract §2)', () => {
  it('a token stays valid across a restart of `npm start` on the same Redis', async () => {
    const env = {
      REDIS_URL: inject('redisUrl'),
      KEY_PREFIX: `keys${randomUUID().slice(0, 8)}`,
      PORT: String(await freePort()),
      AUTH_PORT: String(await freePort()),
      CATALOG_FILE: writeCatalog(testCatalog()),
    };
    const gatewayUrl = `http://127.0.0.1:${env.PORT}`;
    const authUrl = `http://127.0.0.1:${env.AUTH_PORT}`;
    let system = await startRole('gateway,workers,auth', env);
    try {
      const token = await getToken(authUrl, `cust-restart-${randomUUID().slice(0, 8)}`);
      expect((await postPurchase(gatewayUrl, `Bearer ${token}`)).status).toBe(201);
      const kids = await jwksKids(authUrl);
      expect(await system.stop()).toBe(0);

      system = await startRole('gateway,workers,auth', env);
      expect(await jwksKids(authUrl)).toEqual(kids);
      const after = await ordersWith(gatewayUrl, token);
      expect(after.status, JSON.stringify(after.body)).toBe(200);
      expect(after.body).toHaveLength(1);
      expect((await postPurchase(gatewayUrl, `Bearer ${token}`, oneBasicPlan())).status).toBe(201);
    } finally {
      await system.kill9();
    }
  });

  it("auth processes that start together agree on one key, and each one's tokens pass the gateway", async () => {
    const env = { ROLES: 'auth', KEY_PREFIX: `keys${randomUUID().slice(0, 8)}` };
    const [a, b] = await Promise.all([startTestSystem({ env }), startTestSystem({ env })]);
    const gw = await startTestSystem({
      env: { ROLES: 'gateway,workers', AUTH_JWKS_URL: `${a.authUrl}/.well-known/jwks.json` },
    });
    try {
      const kids = await jwksKids(a.authUrl);
      expect(kids).toHaveLength(1);
      expect(await jwksKids(b.authUrl)).toEqual(kids);
      for (const auth of [a, b]) {
        const token = await getToken(auth.authUrl, `cust-pair-${randomUUID().slice(0, 8)}`);
        expect(kidOf(token)).toBe(kids[0]);
        expect((await ordersWith(gw.gatewayUrl, token)).status).toBe(200);
      }
    } finally {
      await Promise.all([gw.stop(), a.stop(), b.stop()]);
    }
  });

  describe('rotation', () => {
    let auth: TestSystem;
    let gw: TestSystem;
    beforeAll(async () => {
      // The new key signs 1.5 s after it is published: more than the gateway's 1 s refetch cooldown.
      auth = await startTestSystem({ env: { ROLES: 'auth', AUTH_KEY_ACTIVATION_MS: '1500' } });
      gw = await startTestSystem({
        env: {
          ROLES: 'gateway,workers',
          AUTH_JWKS_URL: `${auth.authUrl}/.well-known/jwks.json`,
          AUTH_JWKS_COOLDOWN_MS: '1000',
        },
      });
    });
    afterAll(async () => {
      await Promise.all([gw?.stop(), auth?.stop()]);
    });

    it('publishes the new key at once, signs with it once gateways can have fetched it, and keeps the old one', async () => {
      const sub = `cust-rotate-${randomUUID().slice(0, 8)}`;
      const old = await getToken(auth.authUrl, sub);
      const [oldKid] = await jwksKids(auth.authUrl);
      // The gateway verifies it, and so caches the JWKS that has only the old key.
      expect((await postPurchase(gw.gatewayUrl, `Bearer ${old}`)).status).toBe(201);

      expect((await rotate(auth.authUrl)).status).toBe(401);
      const rotated = await rotate(auth.authUrl, basic);
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
      const newKid: string = rotated.body.kid;
      expect(newKid).not.toBe(oldKid);
      expect(Date.parse(rotated.body.activatesAt)).toBeGreaterThan(Date.now());
      // Published at once, behind the key that still signs.
      expect(await jwksKids(auth.authUrl)).toEqual([oldKid, newKid]);
      expect(kidOf(await getToken(auth.authUrl, sub))).toBe(oldKid);

      // Once active, tokens carry the new kid, and the gateway that cached the old JWKS accepts them.
      await expect
        .poll(async () => kidOf(await getToken(auth.authUrl, sub)), { timeout: 10_000, interval: 100 })
        .toBe(newKid);
      const token = await getToken(auth.authUrl, sub);
      expect(kidOf(token)).toBe(newKid);
      const res = await postPurchase(gw.gatewayUrl, `Bearer ${token}`);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      // Tokens of the old key still pass: it stays published until they have expired.
      expect((await ordersWith(gw.gatewayUrl, old)).status).toBe(200);
      expect(await jwksKids(auth.authUrl)).toEqual([newKid, oldKid]);
    });

    it('is off (404) on an auth server without ADMIN_PASSWORD', async () => {
      const bare = await startTestSystem({ env: { ROLES: 'auth', ADMIN_PASSWORD: '' } });
      try {
        expectProblem(await rotate(bare.authUrl, basic), 404, 'not_found');
      } finally {
        await bare.stop();
      }
    });
  });

  it('drops a rotated-out key from the JWKS only once every token it signed has expired', async () => {
    const redis = new Redis(inject('redisUrl'));
    const hashKey = `keys${randomUUID().slice(0, 8)}:auth:keys`;
    const ring = new KeyRing(redis, hashKey, 1_000);
    try {
      await ring.init();
      const t0 = Date.now();
      const first = (await ring.signing(t0)).kid;
      const { kid: second } = await ring.rotate(t0);
      expect((await ring.signing(t0 + 999)).kid).toBe(first);
      expect((await ring.signing(t0 + 1_000)).kid).toBe(second);
      // The first key stopped signing at t0 + 1 s; its last token can live MAX_TOKEN_TTL_S more.
      const lastExpiry = t0 + 1_000 + MAX_TOKEN_TTL_S * 1000;
      expect((await ring.published(lastExpiry)).map((k) => k.kid)).toEqual([second, first]);
      expect((await ring.published(lastExpiry + 10 * 60_000)).map((k) => k.kid)).toEqual([second]);
      // The next rotation forgets it for good.
      const { kid: third } = await ring.rotate(lastExpiry + 10 * 60_000);
      expect(
        Object.values(await redis.hgetall(hashKey))
          .map((v) => JSON.parse(v).kid)
          .sort(),
      ).toEqual([second, third].sort());
    } finally {
      redis.disconnect();
    }
  });
});
