import { newId } from './ids.js';

export const FAULT_KINDS = ['api_error', 'rate_limit', 'lock_timeout', 'drop'] as const;
/**
 * `api_error`: 500 before any work (nothing done, nothing saved under the key); `rate_limit`: 429 `rate_limit`
 * (stripe-node does not retry it by itself); `lock_timeout`: 429 `lock_timeout` with `Stripe-Should-Retry: true`
 * (stripe-node retries it); `drop`: the request is processed, then the socket is destroyed without an answer.
 */
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  id: string;
  kind: FaultKind;
  /** HTTP method to match, any when absent. */
  method: string | null;
  /** Path pattern: `*` matches one segment, `**` any rest; e.g. `/v1/payment_intents/*\/capture`. */
  path: string;
  remaining: number;
  hits: number;
}

export interface Latency {
  ms: number;
  method: string | null;
  path: string;
}

/** Faults the control API arms for the next N matching API requests, and an optional latency. */
export class Faults {
  readonly armed: Fault[] = [];
  latency: Latency | null = null;

  add(f: { kind: FaultKind; method?: string; path?: string; count?: number }): Fault {
    const fault: Fault = {
      id: newId('flt', 10),
      kind: f.kind,
      method: f.method?.toUpperCase() ?? null,
      path: f.path ?? '/**',
      remaining: f.count ?? 1,
      hits: 0,
    };
    this.armed.push(fault);
    return fault;
  }

  /** The first armed fault matching this request, consumed by one. */
  take(method: string, path: string): Fault | undefined {
    const fault = this.armed.find((f) => f.remaining > 0 && matches(f, method, path));
    if (fault) {
      fault.remaining--;
      fault.hits++;
    }
    return fault;
  }

  delayFor(method: string, path: string): number {
    const l = this.latency;
    return l && matches(l, method, path) ? l.ms : 0;
  }

  clear(): void {
    this.armed.length = 0;
    this.latency = null;
  }
}

function matches(f: { method: string | null; path: string }, method: string, path: string): boolean {
  if (f.method && f.method !== method) return false;
  return globToRegExp(f.path).test(path);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .split('/')
    .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+')))
    .join('/');
  return new RegExp(`^${escaped.replace(/\/\.\*/g, '(?:/.*)?')}$`);
}
