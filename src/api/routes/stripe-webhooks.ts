import { Hono } from 'hono';
import Stripe from 'stripe';
import { AppError } from '../../errors.js';
import { problem } from '../../http/problem.js';
import type { Keys } from '../../keys.js';
import type { Logger } from '../../logger.js';
import type { RedisClient } from '../../redis.js';
import { limitBody } from '../middleware/body-limit.js';

/** How long an event id is remembered: 30 days, as long as Stripe keeps (and may resend) an event. */
const DEDUPE_TTL_S = 30 * 24 * 60 * 60;
/** Far above any event Stripe sends; an unsigned body is never read past this. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface StripeWebhookDeps {
  /** `STRIPE_WEBHOOK_SECRET` (`whsec_…`). */
  secret: string;
  redis: RedisClient;
  keys: Keys;
  /** Makes the purchase look again now; it reads the PaymentIntent from Stripe before acting. */
  wake(purchaseId: string): Promise<void>;
  log: Logger;
  /** Oldest signature timestamp accepted, in seconds (default 300, Stripe's). */
  toleranceS?: number;
}

/** The purchase an event names (`metadata.purchase_id` of its PaymentIntent or refunded Charge), if it is ours. */
export function purchaseOfEvent(event: Stripe.Event): string | undefined {
  if (!event.type.startsWith('payment_intent.') && event.type !== 'charge.refunded') return undefined;
  const { metadata } = event.data.object as { metadata?: Stripe.Metadata | null };
  const purchaseId = metadata?.purchase_id;
  return purchaseId ? purchaseId : undefined;
}

/**
 * `POST /stripe`: Stripe's events as hints. The signature is checked on the raw body before anything else (a bad one
 * costs no Redis write); an event is taken once by `event.id`; it only wakes the purchase it names, whose state comes
 * from Stripe's API, never from the event, so duplicates, reordering and late events are harmless.
 */
export function stripeWebhookRoutes(deps: StripeWebhookDeps): Hono {
  const { secret, redis, keys, log } = deps;
  const tolerance = deps.toleranceS ?? 300;
  const app = new Hono();
  app.post(
    '/stripe',
    limitBody({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        problem(c, new AppError('payload_too_large', `A webhook body is at most ${MAX_BODY_BYTES} bytes.`)),
    }),
    async (c) => {
      const header = c.req.header('stripe-signature');
      if (!header) throw new AppError('invalid_signature', 'The Stripe-Signature header is missing.');
      const raw = new Uint8Array(await c.req.arrayBuffer());
      let event: Stripe.Event;
      try {
        event = await Stripe.webhooks.constructEventAsync(raw, header, secret, tolerance);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'stripe webhook rejected');
        throw new AppError('invalid_signature', 'The Stripe-Signature does not verify for this body and time.');
      }

      const purchaseId = purchaseOfEvent(event);
      // Not ours (no purchase_id) or a type that never changes a purchase: acknowledged, nothing written.
      if (!purchaseId) return c.json({ received: true }, 200);

      // Taken once its effect happened, never before: a process killed in between leaves the event untaken, and
      // Stripe's redelivery (no 2xx came back) wakes the purchase. Two deliveries racing both wake it: harmless.
      const key = keys.stripeEvent(event.id);
      if (await redis.exists(key)) return c.json({ received: true, duplicate: true }, 200);
      try {
        await deps.wake(purchaseId);
      } catch (err) {
        // 2xx anyway: the purchase also polls Stripe, and a redelivery can wake it again.
        log.warn({ err, eventId: event.id, type: event.type, purchaseId }, 'stripe webhook: wake failed');
        return c.json({ received: true }, 200);
      }
      await redis.set(key, '1', 'EX', DEDUPE_TTL_S);
      return c.json({ received: true }, 200);
    },
  );
  return app;
}
