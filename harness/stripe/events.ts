import Stripe from 'stripe';
import { newId } from './ids.js';
import type { Ledger } from './ledger.js';
import { snapshot } from './objects.js';

/** The API request that caused an event (`event.request`); both null for automatic ones (3-D Secure page, expiry). */
export interface RequestContext {
  requestId: string | null;
  idempotencyKey: string | null;
  /** `Stripe-Version` of the request; events otherwise carry the SDK's pinned version, as the account default. */
  apiVersion: string | null;
}

export const AUTOMATIC: RequestContext = { requestId: null, idempotencyKey: null, apiVersion: null };

type EventType = Stripe.Event['type'];
type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>;

export interface EventSink {
  /** How many endpoints will be sent this event (its `pending_webhooks`). */
  subscribers(type: string): number;
  deliver(event: Stripe.Event): void;
}

/** Creates Stripe events (snapshots of the object at that moment), stores them for `/v1/events`, sends them on. */
export class Events {
  constructor(
    private readonly ledger: Ledger,
    private readonly sink: EventSink,
  ) {}

  emit<T extends EventType>(type: T, object: EventOf<T>['data']['object'], ctx: RequestContext): Stripe.Event {
    const base: Stripe.EventBase = {
      id: newId('evt'),
      object: 'event',
      api_version: ctx.apiVersion ?? Stripe.API_VERSION,
      created: this.ledger.seconds(),
      data: { object: snapshot(object) },
      livemode: false,
      pending_webhooks: this.sink.subscribers(type),
      request: { id: ctx.requestId, idempotency_key: ctx.idempotencyKey },
      type,
    };
    // Checked field by field as an EventBase above; TypeScript cannot narrow the union by a generic `type`.
    const event = base as unknown as EventOf<T>;
    this.ledger.events.set(event.id, event);
    this.sink.deliver(event);
    return event;
  }
}
