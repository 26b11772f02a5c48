import { Webhook } from 'standardwebhooks';
import { WEBHOOK_SECRET } from '../config.js';

/** Headers computed over the exact bytes of one attempt (postJson's `sign`). */
export type Sign = (payload: string) => Record<string, string>;

/** Signs the calls of one secret's holder; `signer(id)` signs every attempt of the call whose webhook-id is `id`. */
export type Signer = (id: string) => Sign;

/**
 * Standard Webhooks signing with `secret` (`whsec_<base64>`). The id is the call's Idempotency-Key, the
 * same on every retry; the timestamp is taken at each attempt, so a call retried after the receiver's
 * tolerance still verifies.
 */
export function webhookSigner(secret: string | Webhook): Signer {
  const webhook = typeof secret === 'string' ? new Webhook(secret) : secret;
  return (id) => (payload) => {
    const at = new Date();
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': webhook.sign(id, at, payload),
    };
  };
}

/** Both sides of one secret: signing what we send, verifying what its holder sends us. */
export interface WebhookKey {
  sign: Signer;
  /** Throws unless `headers` sign `raw` with this secret within the library's tolerance (5 minutes). */
  verify(raw: string, headers: Record<string, string>): void;
}

/** The key for `secret`, or why it cannot be one (unset, or not a Standard Webhooks secret). */
export function webhookKeyOf(secret: string | undefined): WebhookKey | string {
  if (!secret) return 'is not set';
  if (!WEBHOOK_SECRET.pattern.test(secret)) return `is not ${WEBHOOK_SECRET.expected}`;
  try {
    const webhook = new Webhook(secret);
    return { sign: webhookSigner(webhook), verify: (raw, headers) => void webhook.verify(raw, headers) };
  } catch {
    // The pattern lets through a length base64 cannot decode.
    return `is not ${WEBHOOK_SECRET.expected}`;
  }
}
