/** The gateway benchmark's yardstick: a bare Hono route that only verifies the same JWT. */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const jwks = createRemoteJWKSet(new URL(process.env.AUTH_JWKS_URL!));
const app = new Hono();
app.post('/v1/purchases', async (c) => {
  const token = c.req.header('authorization')?.slice(7) ?? '';
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: 'purchase-auth-dev',
      audience: 'purchase-api',
      algorithms: ['ES256'],
    });
    await c.req.json();
    return c.json({ id: payload.sub, status: 'accepted' }, 202);
  } catch {
    return c.json({ code: 'invalid_token' }, 401);
  }
});
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' }, () => process.send?.('ready'));
