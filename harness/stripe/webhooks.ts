import { createHmac } from 'node:crypto';
import type Stripe from 'stripe';
import type { EventSink } from './events.js';
import { newId } from './ids.js';
import type { Ledger } from './ledger.js';

export const DELIVERY_MODES = ['normal', 'twice', 'out_of_order', 'late', 'never', 'bad_signature', 'stale'] as const;
/**
 * How events reach an endpoint: `normal` once, in order; `twice` each one twice; `out_of_order` held for `delay_ms`
 * (or until flushed), then sent newest first; `late` each one `delay_ms` late; `never` dropped; `bad_signature`
 * signed with another secret; `stale` signed with a timestamp 6 minutes old (beyond the SDK's 5-minute tolerance).
 */
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

export interface Endpoint {
  id: string;
  url: string;
  secret: string;
  mode: DeliveryMode;
  delay_ms: number;
  enabled_events: string[];
}

export interface Delivery {
  event_id: string;
  type: string;
  endpoint_id: string;
  mode: DeliveryMode;
  /** The `Stripe-Signature` header sent, null when nothing was sent. */
  signature: string | null;
  status: number | null;
  ok: boolean;
  error: string | null;
  sent_at: number;
}

const STALE_S = 360;

/** Sends events to the registered endpoints, signed the way Stripe signs them, and records every attempt. */
export class Webhooks implements EventSink {
  readonly endpoints: Endpoint[] = [];
  readonly deliveries: Delivery[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private held: Array<{ event: Stripe.Event; endpoint: Endpoint }> = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private generation = 0;

  constructor(private readonly ledger: Ledger) {}

  addEndpoint(cfg: Partial<Omit<Endpoint, 'id'>> & { url: string }): Endpoint {
    const endpoint: Endpoint = {
      id: newId('we'),
      url: cfg.url,
      secret: cfg.secret ?? newId('whsec', 32),
      mode: cfg.mode ?? 'normal',
      delay_ms: cfg.delay_ms ?? 300,
      enabled_events: cfg.enabled_events ?? ['*'],
    };
    this.endpoints.push(endpoint);
    return endpoint;
  }

  setMode(mode: DeliveryMode, delayMs?: number, endpointId?: string): Endpoint[] {
    const targets = this.endpoints.filter((e) => endpointId === undefined || e.id === endpointId);
    for (const e of targets) {
      e.mode = mode;
      if (delayMs !== undefined) e.delay_ms = delayMs;
    }
    if (mode !== 'out_of_order') this.flush();
    return targets;
  }

  subscribers(type: string): number {
    return this.endpoints.filter((e) => listens(e, type)).length;
  }

  deliver(event: Stripe.Event): void {
    for (const endpoint of this.endpoints)
      if (listens(endpoint, event.type)) this.dispatch(event, endpoint, endpoint.mode);
  }

  /** Sends an event again to every endpoint that listens to it, in `mode` (default `normal`). */
  redeliver(event: Stripe.Event, mode: DeliveryMode = 'normal'): number {
    const targets = this.endpoints.filter((e) => listens(e, event.type));
    for (const endpoint of targets) this.dispatch(event, endpoint, mode);
    return targets.length;
  }

  /** Sends the events held by `out_of_order`, newest first. */
  flush(): number {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const held = this.held.reverse();
    this.held = [];
    for (const { event, endpoint } of held) this.enqueue(endpoint, () => this.send(event, endpoint, 'out_of_order'));
    return held.length;
  }

  /** Whether every endpoint that listens to the event has answered 2xx to a correctly signed delivery. */
  succeeded(event: Stripe.Event): boolean {
    return event.pending_webhooks === 0;
  }

  reset(): void {
    this.generation++;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.held = [];
    this.endpoints.length = 0;
    this.deliveries.length = 0;
    this.chains.clear();
  }

  private dispatch(event: Stripe.Event, endpoint: Endpoint, mode: DeliveryMode): void {
    switch (mode) {
      case 'never':
        this.record(event, endpoint, mode, null, { status: null, ok: false, error: 'not sent (mode never)' });
        return;
      case 'out_of_order':
        this.held.push({ event, endpoint });
        this.holdTimer ??= setTimeout(() => this.flush(), endpoint.delay_ms);
        return;
      case 'late': {
        const generation = this.generation;
        setTimeout(() => {
          if (generation === this.generation) this.enqueue(endpoint, () => this.send(event, endpoint, mode));
        }, endpoint.delay_ms);
        return;
      }
      case 'twice':
        this.enqueue(endpoint, () => this.send(event, endpoint, mode));
        this.enqueue(endpoint, () => this.send(event, endpoint, mode));
        return;
      default:
        this.enqueue(endpoint, () => this.send(event, endpoint, mode));
    }
  }

  /** One delivery at a time per endpoint, so `normal` keeps the order events were created in. */
  private enqueue(endpoint: Endpoint, task: () => Promise<void>): void {
    const generation = this.generation;
    const prev = this.chains.get(endpoint.id) ?? Promise.resolve();
    const next = prev.then(() => (generation === this.generation ? task() : undefined));
    this.chains.set(endpoint.id, next);
  }

  private async send(event: Stripe.Event, endpoint: Endpoint, mode: DeliveryMode): Promise<void> {
    const payload = JSON.stringify(event, null, 2);
    const t = Math.floor(Date.now() / 1000) - (mode === 'stale' ? STALE_S : 0);
    const secret = mode === 'bad_signature' ? newId('whsec', 32) : endpoint.secret;
    const header = signatureHeader(payload, secret, t);
    try {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': header,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      const ok = res.status >= 200 && res.status < 300;
      this.record(event, endpoint, mode, header, { status: res.status, ok, error: null });
      const honest = mode !== 'bad_signature' && mode !== 'stale';
      if (ok && honest && event.pending_webhooks > 0) event.pending_webhooks--;
    } catch (err) {
      this.record(event, endpoint, mode, header, { status: null, ok: false, error: (err as Error).message });
    }
  }

  private record(
    event: Stripe.Event,
    endpoint: Endpoint,
    mode: DeliveryMode,
    signature: string | null,
    outcome: { status: number | null; ok: boolean; error: string | null },
  ): void {
    this.deliveries.push({
      event_id: event.id,
      type: event.type,
      endpoint_id: endpoint.id,
      mode,
      signature,
      ...outcome,
      sent_at: this.ledger.now(),
    });
  }
}

function listens(endpoint: Endpoint, type: string): boolean {
  return endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type);
}

/** `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`: Stripe's scheme (https://docs.stripe.com/webhooks). */
export function signatureHeader(payload: string, secret: string, t: number): string {
  const v1 = createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}
