import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { problemOnError } from '../api/middleware/problem.js';
import { describeIssues } from '../api/schemas.js';
import { TOKEN_ALGORITHMS } from './algorithms.js';

export const TOKEN_ALG = TOKEN_ALGORITHMS[0];

export interface AuthKeys {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function generateAuthKeys(): Promise<AuthKeys> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' } };
}

const tokenRequest = z
  .object({
    sub: z.string().min(1).max(200),
    ttlSeconds: z.number().int().min(-86_400).max(86_400).default(3_600),
    roles: z.array(z.string().max(100)).max(50).default([]),
  })
  .strict();

/**
 * The development Authentication Server: issues ES256 tokens and serves the JWKS.
 * A negative ttlSeconds issues an already-expired token, for testing clients.
 */
export function createAuthApp(opts: { keys: AuthKeys; issuer: string; audience: string }): Hono {
  const app = new Hono();
  app.onError(problemOnError());
  app.get('/.well-known/jwks.json', (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json({ keys: [opts.keys.publicJwk] });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.post('/token', async (c) => {
    const body = tokenRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) throw new AppError('validation_error', describeIssues(body.error));
    const { sub, ttlSeconds, roles } = body.data;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ roles })
      .setProtectedHeader({ alg: TOKEN_ALG, kid: opts.keys.kid, typ: 'JWT' })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(sub)
      .setIssuedAt(ttlSeconds < 0 ? now + ttlSeconds - 60 : now)
      .setExpirationTime(now + ttlSeconds)
      .sign(opts.keys.privateKey);
    return c.json({ access_token: token, token_type: 'Bearer', expires_in: ttlSeconds });
  });
  return app;
}
