import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { basicAuth } from 'hono/basic-auth';
import { SignJWT } from 'jose';
import { problem, problemOnError } from '../http/problem.js';
import { AppError } from '../errors.js';
import { apiApp } from '../http/validation.js';
import { MAX_TOKEN_TTL_S, TOKEN_ALG, type KeyRing } from './key-ring.js';

const tokenRoute = createRoute({
  method: 'post',
  path: '/token',
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({
              sub: z.string().min(1).max(200),
              ttlSeconds: z.number().int().min(-MAX_TOKEN_TTL_S).max(MAX_TOKEN_TTL_S).default(3_600),
              roles: z.array(z.string().max(100)).max(50).default([]),
            })
            .strict(),
        },
      },
    },
  },
  responses: { 200: { description: 'A token.' } },
});

const rotateRoute = createRoute({
  method: 'post',
  path: '/admin/keys/rotate',
  responses: { 201: { description: 'The new key.' } },
});

export interface AuthAppOptions {
  keys: KeyRing;
  issuer: string;
  audience: string;
  /** HTTP Basic for POST /admin/keys/rotate; without it the route is off (404). */
  admin?: { user: string; password: string };
}

/**
 * The development Authentication Server: issues ES256 tokens and serves the JWKS from a key
 * ring kept in Redis. A negative ttlSeconds issues an already-expired token, for testing clients.
 */
export function createAuthApp(opts: AuthAppOptions): OpenAPIHono {
  const app = apiApp();
  app.onError(problemOnError());
  app.notFound((c) => problem(c, new AppError('not_found', `No route ${c.req.method} ${c.req.path}.`)));
  app.get('/.well-known/jwks.json', async (c) => {
    // Short, so a cache in front never hides a new key for as long as a rotation waits to sign with it.
    c.header('cache-control', 'public, max-age=15');
    return c.json({ keys: await opts.keys.published() });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.openapi(tokenRoute, async (c) => {
    const { sub, ttlSeconds, roles } = c.req.valid('json');
    const key = await opts.keys.signing();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ roles })
      .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: 'JWT' })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(sub)
      .setIssuedAt(ttlSeconds < 0 ? now + ttlSeconds - 60 : now)
      .setExpirationTime(now + ttlSeconds)
      .sign(key.privateKey);
    return c.json({ access_token: token, token_type: 'Bearer', expires_in: ttlSeconds });
  });
  if (opts.admin) {
    app.use(
      '/admin/*',
      basicAuth({ username: opts.admin.user, password: opts.admin.password, realm: 'purchase-auth-admin' }),
    );
    app.openapi(rotateRoute, async (c) =>
      c.json({ ...(await opts.keys.rotate()), keys: (await opts.keys.published()).map((k) => k.kid) }, 201),
    );
  }
  return app;
}
