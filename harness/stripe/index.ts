import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Stripe from 'stripe';
import type { ControlAnswers, RequestRecord } from './control.js';
import type { Fault, FaultKind } from './faults.js';
import type { Delivery, DeliveryMode, Endpoint } from './webhooks.js';

export type { Delivery, DeliveryMode, Endpoint, Fault, FaultKind, RequestRecord };

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

/** A running local Stripe server (its own process) and the typed client of its control API. */
export interface StripeServer {
  /** `http://127.0.0.1:<port>`: give `host`, `port` and `protocol: 'http'` to `new Stripe(…)`. */
  url: string;
  host: string;
  port: number;
  control: StripeControl;
  stop(): Promise<void>;
}

export interface StartStripeServerOptions {
  /** Default: a free port chosen by the server. */
  port?: number;
  /** Accept only this secret key (any `sk_test_…` otherwise). */
  apiKey?: string;
  startTimeoutMs?: number;
}

/** Spawns `tsx harness/stripe/server.ts`, waits until it listens, and answers its address and control client. */
export async function startStripeServer(opts: StartStripeServerOptions = {}): Promise<StripeServer> {
  const child = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(here, 'server.ts')], {
    cwd: root,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(opts.port ?? 0),
      STRIPE_API_KEY: opts.apiKey ?? '',
      STRIPE_SERVER_EXIT_WITH_STDIN: '1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const { url, host, port } = await listening(child, opts.startTimeoutMs ?? 20_000);
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[stripe-server] ${chunk.toString()}`));
  return { url, host, port, control: new StripeControl(url), stop: () => stop(child) };
}

function listening(child: ChildProcess, timeoutMs: number): Promise<{ url: string; host: string; port: number }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => fail(new Error(`stripe server did not start in ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const onErr = (chunk: Buffer) => (err += chunk.toString());
    child.stderr!.on('data', onErr);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`stripe server exited (${code}) before listening: ${err}`)));
    child.stdout!.on('data', function onOut(chunk: Buffer) {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      child.stdout!.resume();
      resolve(JSON.parse(line) as { url: string; host: string; port: number });
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Typed client of the server's control API (`/_control/…`, JSON). */
export class StripeControl {
  constructor(readonly url: string) {}

  private async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/_control${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T & { error?: unknown };
    if (!res.ok) throw new Error(`control ${method} ${route} → ${res.status}: ${JSON.stringify(json.error)}`);
    return json;
  }

  /** Forgets everything: objects, events, idempotency keys, faults, latency, webhook endpoints, the clock offset. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  /** The next `count` (default 1) API requests matching `method` and `path` (glob, `*` one segment) fail as `kind`. */
  fault(f: { kind: FaultKind; method?: string; path?: string; count?: number }): Promise<Fault> {
    return this.call('POST', '/faults', f);
  }

  faults(): Promise<ControlAnswers['faults']> {
    return this.call('GET', '/faults');
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  /** Delays every matching API request by `ms` (0 turns it off); the idempotency key is held in flight meanwhile. */
  async latency(ms: number, match: { method?: string; path?: string } = {}): Promise<void> {
    await this.call('POST', '/latency', { ms, ...match });
  }

  /** Moves the server's clock forward (object `created`, idempotency key age); answers its unix time. */
  async advanceClock(seconds: number): Promise<number> {
    return (await this.call<{ now: number }>('POST', '/clock', { advance_seconds: seconds })).now;
  }

  /** Prunes saved idempotency keys at least `olderThanSeconds` old (default: all); answers how many. */
  async pruneIdempotencyKeys(olderThanSeconds = 0): Promise<number> {
    return (await this.call<{ pruned: number }>('POST', '/idempotency/prune', { older_than_seconds: olderThanSeconds }))
      .pruned;
  }

  /** Registers a webhook endpoint; `secret` defaults to a new `whsec_…` (read it from the answer). */
  addWebhookEndpoint(e: {
    url: string;
    secret?: string;
    mode?: DeliveryMode;
    delay_ms?: number;
    enabled_events?: string[];
  }): Promise<Endpoint> {
    return this.call('POST', '/webhooks', e);
  }

  async webhookMode(mode: DeliveryMode, opts: { delay_ms?: number; endpoint_id?: string } = {}): Promise<void> {
    await this.call('POST', '/webhooks/mode', { mode, ...opts });
  }

  /** Sends now the events held by `out_of_order`, newest first; answers how many. */
  async flushWebhooks(): Promise<number> {
    return (await this.call<{ sent: number }>('POST', '/webhooks/flush')).sent;
  }

  async deliveries(filter: { event_id?: string; type?: string } = {}): Promise<Delivery[]> {
    const q = new URLSearchParams(filter as Record<string, string>);
    return (await this.call<ControlAnswers['deliveries']>('GET', `/webhooks/deliveries?${q}`)).deliveries;
  }

  /** Sends a stored event again to every endpoint that listens to it; answers how many endpoints. */
  async redeliver(eventId: string, mode?: DeliveryMode): Promise<number> {
    return (await this.call<{ endpoints: number }>('POST', `/events/${eventId}/redeliver`, { mode })).endpoints;
  }

  /** Settles the 3-D Secure step of a PaymentIntent in `requires_action`, as the test page's buttons do. */
  authenticate(paymentIntentId: string, outcome: 'complete' | 'fail'): Promise<Stripe.PaymentIntent> {
    return this.call('POST', `/payment_intents/${paymentIntentId}/authenticate`, { outcome });
  }

  /** The next capture of this PaymentIntent fails with 400 `code` (default `charge_expired_for_capture`) and cancels it. */
  failNextCapture(paymentIntentId: string, code?: string): Promise<Stripe.PaymentIntent> {
    return this.call('POST', `/payment_intents/${paymentIntentId}/fail_next_capture`, { code });
  }

  /** Every PaymentIntent, Charge and Refund, in creation order. */
  ledger(): Promise<ControlAnswers['ledger']> {
    return this.call('GET', '/ledger');
  }

  /** The API requests received (method, path, idempotency key, status, replayed, fault), oldest first. */
  async requests(): Promise<RequestRecord[]> {
    return (await this.call<ControlAnswers['requests']>('GET', '/requests')).requests;
  }
}
