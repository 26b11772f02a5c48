import type Stripe from 'stripe';
import { StripeHttpError } from './errors.js';
import { AUTOMATIC } from './events.js';
import { FAULT_KINDS, type Fault, type FaultKind, type Faults, type Latency } from './faults.js';
import type { Idempotency } from './idempotency.js';
import type { Ledger } from './ledger.js';
import type { Transitions } from './transitions.js';
import { DELIVERY_MODES, type Delivery, type DeliveryMode, type Endpoint, type Webhooks } from './webhooks.js';

export const CONTROL_PREFIX = '/_control';

/** One API request as the server saw it, for tests that check what a client sent. */
export interface RequestRecord {
  request_id: string;
  method: string;
  path: string;
  idempotency_key: string | null;
  status: number | null;
  replayed: boolean;
  fault: FaultKind | null;
}

/** The control API's answers, shared with the typed client in `index.ts`. */
export interface ControlAnswers {
  faults: { faults: Fault[]; latency: Latency | null };
  ledger: { payment_intents: Stripe.PaymentIntent[]; charges: Stripe.Charge[]; refunds: Stripe.Refund[] };
  deliveries: { deliveries: Delivery[] };
  requests: { requests: RequestRecord[] };
  endpoints: { endpoints: Endpoint[] };
}

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlDeps {
  ledger: Ledger;
  faults: Faults;
  idempotency: Idempotency;
  webhooks: Webhooks;
  transitions: Transitions;
  requests: RequestRecord[];
}

type Body = Record<string, unknown>;

/** JSON control API under `/_control` (a prefix Stripe never uses); no authentication, loopback only. */
export function control(deps: ControlDeps, method: string, url: URL, body: Body): { status: number; json: unknown } {
  try {
    return { status: 200, json: route(deps, method, url.pathname.slice(CONTROL_PREFIX.length), url, body) };
  } catch (err) {
    if (err instanceof ControlError) return { status: err.status, json: { error: err.message } };
    if (err instanceof StripeHttpError) return { status: err.status, json: { error: err.body } };
    throw err;
  }
}

function route(d: ControlDeps, method: string, path: string, url: URL, body: Body): unknown {
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /health':
      return { ok: true };
    case 'POST /reset':
      d.ledger.reset();
      d.faults.clear();
      d.idempotency.clear();
      d.webhooks.reset();
      d.requests.length = 0;
      return { ok: true };
    case 'POST /faults':
      return d.faults.add({
        kind: oneOf(body.kind, FAULT_KINDS, 'kind'),
        method: optString(body.method),
        path: optString(body.path),
        count: optNumber(body.count),
      });
    case 'GET /faults':
      return { faults: d.faults.armed, latency: d.faults.latency };
    case 'DELETE /faults':
      d.faults.clear();
      return { ok: true };
    case 'POST /latency': {
      const ms = optNumber(body.ms) ?? 0;
      d.faults.latency =
        ms > 0
          ? { ms, method: optString(body.method)?.toUpperCase() ?? null, path: optString(body.path) ?? '/**' }
          : null;
      return { latency: d.faults.latency };
    }
    case 'GET /clock':
      return { now: d.ledger.seconds() };
    case 'POST /clock':
      d.ledger.advance(optNumber(body.advance_seconds) ?? 0);
      return { now: d.ledger.seconds() };
    case 'POST /idempotency/prune':
      return { pruned: d.idempotency.prune((optNumber(body.older_than_seconds) ?? 0) * 1000) };
    case 'POST /webhooks':
      return d.webhooks.addEndpoint({
        url: requiredString(body.url, 'url'),
        secret: optString(body.secret),
        mode: body.mode === undefined ? undefined : oneOf(body.mode, DELIVERY_MODES, 'mode'),
        delay_ms: optNumber(body.delay_ms),
        enabled_events: Array.isArray(body.enabled_events) ? body.enabled_events.map(String) : undefined,
      });
    case 'GET /webhooks':
      return { endpoints: d.webhooks.endpoints };
    case 'POST /webhooks/mode':
      return {
        endpoints: d.webhooks.setMode(
          oneOf(body.mode, DELIVERY_MODES, 'mode'),
          optNumber(body.delay_ms),
          optString(body.endpoint_id),
        ),
      };
    case 'POST /webhooks/flush':
      return { sent: d.webhooks.flush() };
    case 'GET /webhooks/deliveries': {
      const eventId = url.searchParams.get('event_id');
      const type = url.searchParams.get('type');
      return {
        deliveries: d.webhooks.deliveries.filter(
          (x) => (!eventId || x.event_id === eventId) && (!type || x.type === type),
        ),
      };
    }
    case 'GET /ledger':
      return {
        payment_intents: [...d.ledger.intents.values()].map((s) => s.pi),
        charges: [...d.ledger.charges.values()],
        refunds: [...d.ledger.refunds.values()],
      };
    case 'GET /requests':
      return { requests: d.requests };
  }
  const redeliver = /^POST \/events\/([^/]+)\/redeliver$/.exec(key);
  if (redeliver) {
    const event = d.ledger.events.get(redeliver[1]!);
    if (!event) throw new ControlError(404, `no such event: ${redeliver[1]}`);
    const mode: DeliveryMode = body.mode === undefined ? 'normal' : oneOf(body.mode, DELIVERY_MODES, 'mode');
    return { endpoints: d.webhooks.redeliver(event, mode) };
  }
  const intent = /^POST \/payment_intents\/([^/]+)\/(authenticate|fail_next_capture)$/.exec(key);
  if (intent) {
    const state = d.ledger.intents.get(intent[1]!);
    if (!state) throw new ControlError(404, `no such payment_intent: ${intent[1]}`);
    if (intent[2] === 'authenticate') {
      d.transitions.authenticate(state, oneOf(body.outcome, ['complete', 'fail'] as const, 'outcome'), AUTOMATIC);
    } else {
      state.failNextCapture = optString(body.code) ?? 'charge_expired_for_capture';
    }
    return state.pi;
  }
  throw new ControlError(404, `unknown control route: ${key}`);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ControlError(400, `${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function optString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ControlError(400, `expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function requiredString(value: unknown, name: string): string {
  const s = optString(value);
  if (!s) throw new ControlError(400, `${name} is required`);
  return s;
}

function optNumber(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ControlError(400, `expected a non-negative number, got ${JSON.stringify(value)}`);
  }
  return value;
}
