import { StripeHttpError } from './errors.js';

/** A saved answer, replayed byte for byte to a request with the same key and parameters. */
export interface SavedAnswer {
  status: number;
  body: string;
  requestId: string;
}

interface Entry {
  path: string;
  params: string;
  createdMs: number;
  answer: SavedAnswer | null;
}

/** Keys are pruned once they are 24 hours old (https://docs.stripe.com/api/idempotent_requests). */
export const KEY_TTL_MS = 24 * 3600 * 1000;

export type Begin = { kind: 'new' } | { kind: 'replay'; answer: SavedAnswer };

/**
 * Stripe's idempotency layer: same key and same parameters → the first answer (status and body, errors included);
 * another endpoint or other parameters → 400 `idempotency_error`; the first request still running → 409.
 */
export class Idempotency {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number) {}

  begin(key: string, path: string, params: string): Begin {
    this.prune(KEY_TTL_MS);
    const entry = this.entries.get(key);
    if (!entry) {
      this.entries.set(key, { path, params, createdMs: this.now(), answer: null });
      return { kind: 'new' };
    }
    if (entry.path !== path) {
      throw new StripeHttpError(
        400,
        {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${entry.path}' vs '${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
        },
        false,
      );
    }
    if (entry.params !== params) {
      throw new StripeHttpError(
        400,
        {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        },
        false,
      );
    }
    if (!entry.answer) {
      throw new StripeHttpError(
        409,
        {
          type: 'idempotency_error',
          code: 'idempotency_key_in_use',
          message:
            'There is currently another in-progress request using this Stripe API key (that also possibly has the same idempotency key). Please try again later. If this error persists, contact us via https://support.stripe.com/contact.',
          doc_url: 'https://stripe.com/docs/error-codes/idempotency-key-in-use',
        },
        false,
      );
    }
    return { kind: 'replay', answer: entry.answer };
  }

  /** Saves the answer of a request that began executing. */
  save(key: string, answer: SavedAnswer): void {
    const entry = this.entries.get(key);
    if (entry) entry.answer = answer;
  }

  /** Forgets a key whose request did not execute (validation failure, conflict): it may be retried. */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (entry && !entry.answer) this.entries.delete(key);
  }

  /** Drops keys at least `olderThanMs` old (by the server's clock); answers how many. */
  prune(olderThanMs: number): number {
    const cutoff = this.now() - olderThanMs;
    let pruned = 0;
    for (const [key, entry] of this.entries) {
      if (entry.answer && entry.createdMs <= cutoff) {
        this.entries.delete(key);
        pruned++;
      }
    }
    return pruned;
  }

  size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
