import { invalid } from './errors.js';

/** A decoded Stripe parameter: form values are strings, nested by bracket notation into hashes and lists. */
export type Param = string | Param[] | ParamHash;
export interface ParamHash {
  [key: string]: Param;
}

const KEY = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Decodes Stripe's form encoding, as stripe-node writes it (`metadata[purchase_id]=x`, `expand[0]=y`, `expand[]=y`,
 * `created[gte]=1`). A hash whose keys are exactly 0..n-1 becomes a list, except under `metadata`.
 */
export function parseForm(encoded: string): ParamHash {
  const root: ParamHash = {};
  for (const [rawKey, value] of new URLSearchParams(encoded)) {
    const m = KEY.exec(rawKey);
    if (!m) throw invalid(`Invalid parameter name: ${rawKey}`, { param: rawKey });
    const path = [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)];
    if (path.some((p) => FORBIDDEN.has(p))) throw invalid(`Invalid parameter name: ${rawKey}`, { param: rawKey });
    let node: ParamHash = root;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] === '' ? String(Object.keys(node).length) : path[i]!;
      if (i === path.length - 1) {
        node[seg] = value;
        break;
      }
      const next = node[seg];
      if (typeof next === 'string' && next !== '') throw invalid(`Invalid hash: ${path.slice(0, i + 1).join('.')}`);
      if (typeof next !== 'object' || Array.isArray(next)) node[seg] = {};
      node = node[seg] as ParamHash;
    }
  }
  return listify(root, '') as ParamHash;
}

function listify(value: Param, key: string): Param {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = listify(value[k]!, k);
  if (key !== 'metadata' && keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => value[k]!);
  return value;
}

/** Parameters compared the way the idempotency layer compares them: order of hash keys does not matter. */
export function canonical(value: Param): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(',')}}`;
}

/** Typed readers for one request's parameters; each throws Stripe's own validation error. */
export class Params {
  constructor(readonly raw: ParamHash) {}

  /** Stripe rejects parameters it does not know; so does this server, for the endpoints it serves. */
  allow(names: readonly string[]): this {
    for (const k of Object.keys(this.raw)) {
      if (!names.includes(k))
        throw invalid(`Received unknown parameter: ${k}`, { param: k, code: 'parameter_unknown' });
    }
    return this;
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined;
  }

  string(name: string): string | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      throw invalid(`Invalid string: ${name}`, { param: name, code: 'parameter_invalid_string' });
    return v;
  }

  required(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') {
      throw invalid(`Missing required param: ${name}.`, { param: name, code: 'parameter_missing' });
    }
    return v;
  }

  integer(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw invalid(`Invalid integer: ${v}`, { param: name, code: 'parameter_invalid_integer' });
    return Number(v);
  }

  boolean(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw invalid(`Invalid boolean: ${v}`, { param: name });
    return v === 'true';
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw invalid(`Invalid ${name}: must be one of ${values.join(', ')}`, { param: name });
    }
    return v as T;
  }

  hash(name: string): ParamHash | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    if (v === '') return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`Invalid hash`, { param: name });
    return v;
  }

  list(name: string): string[] {
    const v = this.raw[name];
    if (v === undefined || v === '') return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(`Invalid array`, { param: name });
    return v as string[];
  }

  /** `metadata`: on update, an empty value unsets a key and `metadata=` unsets them all, as on Stripe. */
  metadata(current: Record<string, string> = {}): Record<string, string> | undefined {
    const v = this.raw.metadata;
    if (v === undefined) return undefined;
    if (v === '') return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid hash', { param: 'metadata' });
    const next = { ...current };
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') throw invalid(`Invalid string: metadata[${k}]`, { param: `metadata[${k}]` });
      if (k.length > 40) throw invalid(`Metadata keys can have at most 40 characters.`, { param: `metadata[${k}]` });
      if (val.length > 500)
        throw invalid(`Metadata values can have at most 500 characters.`, { param: `metadata[${k}]` });
      if (val === '') delete next[k];
      else next[k] = val;
    }
    if (Object.keys(next).length > 50) throw invalid('Metadata can have at most 50 keys.', { param: 'metadata' });
    return next;
  }
}
