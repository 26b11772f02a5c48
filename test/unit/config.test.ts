import { describe, expect, it } from 'vitest';
import { ConfigError, jwksUrl, parseConfig, redisTargetOf } from '../../src/config.js';

/** src/config.ts: the environment parsed once, every problem named by its variable. No Redis. */

describe('configuration', () => {
  it('fails fast naming the variable with a bad value', () => {
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => parseConfig({ ROLES: 'gateway,cron' })).toThrow(/ROLES/);
    expect(() => parseConfig({ FAULT_INJECTION: 'yes' })).toThrow(/FAULT_INJECTION/);
    expect(() => parseConfig({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
    expect(() => parseConfig({ NOTIFY_WEBHOOK_SECRET: 'hunter2' })).toThrow(/NOTIFY_WEBHOOK_SECRET.*whsec_/);
    expect(
      parseConfig({ NOTIFY_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}` }).NOTIFY_WEBHOOK_SECRET,
    ).toMatch(/^whsec_/);
  });

  it('defaults to every role, sync mode and the contract limits', () => {
    const config = parseConfig({});
    expect(config.ROLES).toEqual(['gateway', 'workers', 'auth']);
    expect(config.PURCHASE_MODE).toBe('sync');
    expect(config.SYNC_TIMEOUT_MS).toBe(10_000);
    expect(config.RATE_LIMIT_POINTS).toBe(10);
    expect(config.RATE_LIMIT_DURATION_S).toBe(60);
    expect(config.PORT).toBe(3000);
    expect(config.AUTH_PORT).toBe(3001);
  });
});

describe('configuration of the engines (contract §1)', () => {
  it('none set: REDIS_URL (or the local default) as today, one shard, no WAIT', () => {
    const config = parseConfig({});
    expect(redisTargetOf(config)).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(config.REDIS_SHARDS).toBe(1);
    expect(config.REDIS_WAIT_REPLICAS).toBe(0);
  });

  it('a cluster or sentinels win over REDIS_URL', () => {
    const cluster = parseConfig({ REDIS_URL: 'redis://x:1', REDIS_CLUSTER_NODES: 'a:7000, b:7001' });
    expect(redisTargetOf(cluster)).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    expect(cluster.REDIS_SHARDS).toBe(16);
    expect(cluster.REDIS_WAIT_REPLICAS).toBe(1);
    const sentinel = parseConfig({
      REDIS_URL: 'redis://x:1',
      REDIS_SENTINELS: 's1:26379',
      REDIS_SENTINEL_NAME: 'main',
    });
    expect(redisTargetOf(sentinel)).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'main',
      commandTimeoutMs: 1_000,
    });
  });

  it('fails fast naming the variable', () => {
    expect(() => parseConfig({ REDIS_CLUSTER_NODES: 'no-port' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => parseConfig({ REDIS_SENTINELS: 's1:26379' })).toThrow(/REDIS_SENTINEL_NAME/);
    expect(() =>
      parseConfig({ REDIS_SENTINELS: 's1:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'a:1' }),
    ).toThrow(ConfigError);
    expect(() => parseConfig({ KEY_PREFIX: '{ps}' })).toThrow(/KEY_PREFIX/);
    expect(() => parseConfig({ REDIS_SHARDS: '4', WORKER_SHARDS: '2-4' })).toThrow(/WORKER_SHARDS/);
    expect(parseConfig({ REDIS_SHARDS: '16', WORKER_SHARDS: '0-2,9' }).WORKER_SHARDS).toEqual([0, 1, 2, 9]);
  });
});

describe('configuration: what an operator writes in an env file', () => {
  it('an empty variable means its default, as .env files and compose leave them', () => {
    const config = parseConfig({ PORT: '', ROLES: '', REDIS_URL: '' });
    expect(config.PORT).toBe(3000);
    expect(config.ROLES).toEqual(['gateway', 'workers', 'auth']);
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('ROLES are trimmed and counted once; an empty list is refused', () => {
    expect(parseConfig({ ROLES: ' workers , gateway,workers' }).ROLES).toEqual(['workers', 'gateway']);
    expect(() => parseConfig({ ROLES: ',' })).toThrow(/ROLES/);
  });

  it('flags take 1/true and 0/false only', () => {
    expect(parseConfig({ FAULT_INJECTION: 'true' }).FAULT_INJECTION).toBe(true);
    expect(parseConfig({ FAULT_INJECTION: '0' }).FAULT_INJECTION).toBe(false);
    expect(parseConfig({}).FAULT_INJECTION).toBe(false);
  });

  it('bounds the replica wait by the 2 s command timeout of the request connection', () => {
    expect(parseConfig({ REDIS_WAIT_TIMEOUT_MS: '1500' }).REDIS_WAIT_TIMEOUT_MS).toBe(1500);
    expect(() => parseConfig({ REDIS_WAIT_TIMEOUT_MS: '1501' })).toThrow(/REDIS_WAIT_TIMEOUT_MS/);
    expect(parseConfig({ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' }).REDIS_WAIT_REPLICAS).toBe(1);
  });

  it('names every bad variable at once, not only the first', () => {
    let error: Error | undefined;
    try {
      parseConfig({ PORT: 'eighty', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err as Error;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toMatch(/PORT/);
    expect(error?.message).toMatch(/LOG_LEVEL/);
  });

  it('the gateway finds the keys of the auth role on this host unless AUTH_JWKS_URL says elsewhere', () => {
    expect(jwksUrl(parseConfig({ AUTH_PORT: '4001' }))).toBe('http://127.0.0.1:4001/.well-known/jwks.json');
    expect(jwksUrl(parseConfig({}), 5000)).toBe('http://127.0.0.1:5000/.well-known/jwks.json');
    const elsewhere = 'https://auth.example/.well-known/jwks.json';
    expect(jwksUrl(parseConfig({ AUTH_JWKS_URL: elsewhere }), 5000)).toBe(elsewhere);
  });
});

describe('configuration of partner isolation (contract §5.1)', () => {
  it('a circuit per partner opens after 5 failures in a row and probes after 5 s; places follow the workers unless set', () => {
    const config = parseConfig({});
    expect(config.PARTNER_BREAKER_FAILURES).toBe(5);
    expect(config.PARTNER_BREAKER_HALF_OPEN_MS).toBe(5_000);
    expect(config.PARTNER_CONCURRENCY).toBeUndefined();
    expect(parseConfig({ PARTNER_CONCURRENCY: '3' }).PARTNER_CONCURRENCY).toBe(3);
  });

  it('fails fast naming a bad partner setting', () => {
    expect(() => parseConfig({ PARTNER_CONCURRENCY: '0' })).toThrow(/PARTNER_CONCURRENCY/);
    expect(() => parseConfig({ PARTNER_BREAKER_FAILURES: 'many' })).toThrow(/PARTNER_BREAKER_FAILURES/);
    expect(() => parseConfig({ PARTNER_BREAKER_HALF_OPEN_MS: '-1' })).toThrow(/PARTNER_BREAKER_HALF_OPEN_MS/);
  });
});
