import { createAuthApp } from '../auth/auth-server.js';
import { KeyRing } from '../auth/key-ring.js';
import { listen, startRole, type RoleContext } from './role.js';

/** The development Authentication Server. Its key pair lives in Redis: a restart, or another auth process, signs with the same one. */
export function startAuth(ctx: RoleContext) {
  const { config, keys, log } = ctx;
  return startRole(ctx, async (stops) => {
    const keyRing = new KeyRing(ctx.redis, keys.authKeys, config.AUTH_KEY_ACTIVATION_MS);
    await keyRing.init();
    const admin = config.ADMIN_PASSWORD ? { user: config.ADMIN_USER, password: config.ADMIN_PASSWORD } : undefined;
    const app = createAuthApp({ keys: keyRing, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, admin });
    const { url, stop } = await listen('auth server', app, config.HOST, config.AUTH_PORT);
    stops.push(stop);
    log.info({ url }, 'auth server listening');
    return { url };
  });
}
