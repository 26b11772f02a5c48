import type { MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../../errors.js';
import { TOKEN_ALGORITHMS } from '../../auth/algorithms.js';

export interface Customer {
  id: string;
  roles: string[];
}

export type AuthEnv = { Variables: { customer: Customer } };

export interface AuthOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  timeoutMs: number;
  /** Minimum gap between refetches on an unknown kid; default 30 s. */
  cooldownMs?: number;
}

export interface TokenVerifier {
  middleware: MiddlewareHandler<AuthEnv>;
  /** True while fresh keys are cached, or once they can be fetched; false when they cannot. */
  ready(): Promise<boolean>;
}

const CLOCK_TOLERANCE_S = 5;

const UNAVAILABLE = () =>
  new AppError(
    'service_unavailable',
    'The authentication server is unavailable; try again shortly.',
    {},
    { 'retry-after': '5' },
  );

/**
 * Verifies bearer JWTs against a remote JWKS (cached; refetched on an unknown
 * kid, at most every `cooldownMs`) with an algorithm allow-list and iss/aud/exp checks.
 */
export function createTokenVerifier(opts: AuthOptions): TokenVerifier {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl), {
    timeoutDuration: opts.timeoutMs,
    cooldownDuration: opts.cooldownMs ?? 30_000,
    cacheMaxAge: 10 * 60_000,
  });

  // Verified tokens, for at most a minute and never past their exp: an ES256 verification
  // costs more than the rest of an accepted purchase on the gateway (Envoy's jwt_authn
  // caches the same way). A hit counts only while its key is still published, so a key
  // withdrawn from the JWKS stops working as soon as the gateway has refetched the set.
  const verified = new LRUCache<string, { customer: Customer; exp: number; kid: string }>({ max: 50_000, ttl: 60_000 });
  let published = new Set<string>();

  const verify = async (token: string): Promise<Customer> => {
    const hit = verified.get(token);
    if (hit && published.has(hit.kid)) {
      if (hit.exp + CLOCK_TOLERANCE_S < Date.now() / 1000)
        throw new AppError('expired_token', 'The token has expired.');
      return hit.customer;
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: opts.issuer,
        audience: opts.audience,
        algorithms: [...TOKEN_ALGORITHMS],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
      const customer = { id: payload.sub!, roles };
      // Misses are rare; refresh the published kids from jose's cached set on each.
      published = new Set((jwks.jwks()?.keys ?? []).flatMap((k) => (k.kid ? [k.kid] : [])));
      const ttl = Math.min(60_000, Math.max(1, (payload.exp! + CLOCK_TOLERANCE_S) * 1000 - Date.now()));
      verified.set(token, { customer, exp: payload.exp!, kid: protectedHeader.kid ?? '' }, { ttl });
      return customer;
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AppError('expired_token', 'The token has expired.');
      if (err instanceof errors.JWKSTimeout) throw UNAVAILABLE();
      // jose throws a bare JOSEError only when the key set cannot be fetched (non-200, not JSON).
      if (err instanceof errors.JOSEError && err.code === errors.JOSEError.code) throw UNAVAILABLE();
      if (err instanceof errors.JOSEError) throw new AppError('invalid_token', 'The token could not be verified.');
      // Anything else is the key fetch failing: the server is down or unreachable.
      throw UNAVAILABLE();
    }
  };

  return {
    middleware: async (c, next) => {
      const header = c.req.header('authorization');
      if (!header)
        throw new AppError(
          'missing_token',
          'An Authorization: Bearer token is required.',
          {},
          { 'www-authenticate': 'Bearer' },
        );
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match)
        throw new AppError(
          'invalid_token',
          'The Authorization header must be "Bearer <token>".',
          {},
          { 'www-authenticate': 'Bearer error="invalid_token"' },
        );
      c.set('customer', await verify(match[1]!));
      await next();
    },
    async ready() {
      // Fresh cached keys verify tokens even while the server is away; fetch only without them.
      if (jwks.fresh) return true;
      try {
        await jwks.reload();
        return true;
      } catch {
        return false;
      }
    },
  };
}
