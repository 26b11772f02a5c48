import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis.js';

/**
 * A random secret every process on this Redis shares: the first to ask makes it (SET NX, so
 * concurrent first starts agree), everyone reads the one that won. It never expires; deleting
 * the key makes a new one at the next start, and whatever was signed with the old one stops
 * verifying (for list cursors: a client starts its listing again).
 */
export async function sharedSecret(redis: RedisClient, key: string): Promise<Buffer> {
  await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
  const value = await redis.get(key);
  if (!value) throw new Error(`shared secret ${key} vanished while it was read`);
  return Buffer.from(value, 'base64url');
}
