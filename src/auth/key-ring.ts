import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis.js';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { TOKEN_ALGORITHMS } from './algorithms.js';

export const TOKEN_ALG = TOKEN_ALGORITHMS[0];
/** The longest-lived token POST /token issues: a retired key stays published at least this long. */
export const MAX_TOKEN_TTL_S = 86_400;
/** And a little longer, for clocks that disagree (the gateway allows 5 s of skew). */
const RETIRED_MARGIN_MS = 5 * 60_000;

interface StoredKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  /** Epoch ms from which it signs; until then it is only published. */
  activatesAt: number;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

async function generate(activatesAt: number): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' },
    activatesAt,
  };
}

/**
 * The auth role's signing keys, in one Redis hash that every auth process shares, so a
 * restart keeps tokens valid and two processes sign with the same key. Every read goes to
 * Redis (a few small fields), so a rotation by one process is seen by all at once.
 *
 * A rotation publishes the new key at once but signs with it only `activationMs` later: a
 * gateway refetches the JWKS for an unknown kid at most every AUTH_JWKS_COOLDOWN_MS, so a
 * delay of at least that cooldown means no gateway ever sees a token whose key it has not
 * been able to fetch. The key it replaces stays published until every token it signed has
 * expired (MAX_TOKEN_TTL_S after it stopped signing).
 */
export class KeyRing {
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly hashKey: string,
    private readonly activationMs: number,
  ) {}

  /** Makes the first key pair unless there is one; concurrent first starts agree on one (HSETNX). */
  async init(): Promise<void> {
    if ((await this.redis.hlen(this.hashKey)) > 0) return;
    await this.redis.hsetnx(this.hashKey, 'initial', JSON.stringify(await generate(Date.now())));
  }

  /** The key that signs now: of those active, the one activated last. */
  async signing(now = Date.now()): Promise<SigningKey> {
    const { current } = plan(await this.keys(), now);
    if (!current) throw new Error('no signing key: the key ring was not initialised');
    let key = this.imported.get(current.kid);
    if (!key) {
      key = importJWK(current.privateJwk, TOKEN_ALG) as Promise<CryptoKey>;
      this.imported.set(current.kid, key);
    }
    return { kid: current.kid, privateKey: await key };
  }

  /** The JWKS: the signing key first, then keys waiting to sign, then retired keys whose tokens may live. */
  async published(now = Date.now()): Promise<JWK[]> {
    const { current, pending, retired } = plan(await this.keys(), now);
    return [...(current ? [current] : []), ...pending, ...retired].map((k) => k.publicJwk);
  }

  /** Adds a key that is published now and signs from `activatesAt`; forgets keys no token can need. */
  async rotate(now = Date.now()): Promise<{ kid: string; activatesAt: string }> {
    const next = await generate(now + this.activationMs);
    await this.redis.hset(this.hashKey, next.kid, JSON.stringify(next));
    const { dropped } = plan(await this.keys(), now);
    if (dropped.length > 0) await this.redis.hdel(this.hashKey, ...dropped.map((k) => k.field));
    return { kid: next.kid, activatesAt: new Date(next.activatesAt).toISOString() };
  }

  private async keys(): Promise<(StoredKey & { field: string })[]> {
    const hash = await this.redis.hgetall(this.hashKey);
    return Object.entries(hash).map(([field, json]) => ({ ...(JSON.parse(json) as StoredKey), field }));
  }
}

/** Sorts the ring into what signs, what waits, what is retired but published, and what can go. */
function plan<K extends StoredKey>(keys: K[], now: number) {
  const byActivation = [...keys].sort((a, b) => a.activatesAt - b.activatesAt || a.kid.localeCompare(b.kid));
  const active = byActivation.filter((k) => k.activatesAt <= now);
  const current = active[active.length - 1];
  const pending = byActivation.filter((k) => k.activatesAt > now);
  const retired: K[] = [];
  const dropped: K[] = [];
  active.slice(0, -1).forEach((k, i) => {
    // It stopped signing when the next key activated; its last token expires at most MAX_TOKEN_TTL_S later.
    const stoppedAt = active[i + 1]!.activatesAt;
    (now < stoppedAt + MAX_TOKEN_TTL_S * 1000 + RETIRED_MARGIN_MS ? retired : dropped).push(k);
  });
  return { current, pending, retired: retired.reverse(), dropped };
}
