import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A Stripe-looking random id: `pi_3Q…`, `ch_3Q…`, `re_3Q…`, `evt_3Q…`, `req_…`. */
export function newId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return `${prefix}_${out}`;
}

export function clientSecret(piId: string): string {
  return `${piId}_secret_${newId('x', 25).slice(2)}`;
}
