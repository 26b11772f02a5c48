import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { AppError } from '../errors.js';
import { newPurchaseId } from '../ids.js';
import { acknowledgementOf } from '../purchase/notifications.js';
import type { PurchaseRecord } from '../purchase/record.js';
import type { RetryPolicy } from '../queues/contract.js';
import { startJob } from '../saga/flows.js';
import { STEP_NAMES } from '../saga/saga.js';
import { deliverByWebhook } from '../queues/webhook-delivery.js';
import { IdempotencyStore } from '../stores/idempotency-store.js';
import type { Intake, PurchaseIntake } from '../stores/purchase-intake.js';
import type { OrchestratorBreaker } from './breaker.js';
import type { Customer } from './middleware/auth.js';
import type { PurchaseBody } from './schemas.js';

export interface Submitted {
  id: string;
  /** True when an Idempotency-Key matched an earlier purchase. */
  replay: boolean;
}

export interface SubmitOptions {
  idempotencyKey?: string;
  requestId?: string;
  /** Asynchronous purchases get a `purchase_accepted` notification. */
  acknowledge?: boolean;
}

export interface PurchaseServiceDeps {
  intake: PurchaseIntake;
  idempotency: IdempotencyStore;
  /** Each shard's webhook deliveries, when NOTIFY_WEBHOOK_URL is set. */
  webhookQueue?: (shard: number) => Queue;
  /** Each shard's orchestrator queue: the gateway hands a purchase over with its `prepare` job. */
  orchestrator(shard: number): Queue;
  /** The shard a customer's purchases live on (keys.ts). */
  shardOf(customerId: string): number;
  breaker: OrchestratorBreaker;
  policy: RetryPolicy;
  /** True while at least one workers process serving `shard` has a fresh heartbeat. */
  workersAlive(shard: number): Promise<boolean>;
  /**
   * Resolves once the purchase's writes reached its master's replicas (WAIT), or the bound
   * passed; undefined when REDIS_WAIT_REPLICAS is 0.
   */
  replicated?(shard: number, purchaseId: string): Promise<void>;
  /** Told why a hand-off failed (the customer only sees a 503). */
  onHandOffError?(err: unknown, shard: number): void;
}

const unavailable = (detail: string) => new AppError('service_unavailable', detail, {}, { 'retry-after': '5' });

function bodyHash(body: PurchaseBody): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/**
 * Hands a purchase to the orchestrator: one atomic write (Idempotency-Key claim, record,
 * acknowledgement), then its `prepare` job. If the job cannot be enqueued the write is
 * withdrawn, so a 503 leaves nothing behind to run later by surprise.
 */
export function createPurchaseService(deps: PurchaseServiceDeps) {
  const { idempotency, intake, breaker } = deps;

  const duplicateOf = (earlier: string, hash: string): Submitted => {
    const answer = IdempotencyStore.answer(earlier, hash);
    if (answer.status === 'conflict')
      throw new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body.');
    return { id: answer.purchaseId, replay: true };
  };

  const handOff = async (
    shard: number,
    customer: Customer,
    body: PurchaseBody,
    opts: SubmitOptions,
  ): Promise<Submitted> => {
    const id = newPurchaseId(shard);
    const hash = opts.idempotencyKey ? bodyHash(body) : '';
    if (!(await deps.workersAlive(shard))) {
      // A replay needs no orchestrator: it answers with the purchase made before.
      const earlier = opts.idempotencyKey ? await idempotency.earlier(customer.id, opts.idempotencyKey) : undefined;
      if (earlier) return duplicateOf(earlier, hash);
      deps.onHandOffError?.(new Error('no live workers heartbeat on the shard'), shard);
      throw unavailable('No purchase orchestrator is running; nothing was charged. Try again shortly.');
    }
    const now = new Date().toISOString();
    const record: PurchaseRecord = {
      id,
      customerId: customer.id,
      status: 'accepted',
      phase: 'running',
      createdAt: now,
      updatedAt: now,
      request: {
        items: body.items,
        outOfStock: body.outOfStock,
        paymentToken: body.payment.token,
        ...(body.payment.returnUrl ? { returnUrl: body.payment.returnUrl } : {}),
        roles: customer.roles,
      },
      payment: { status: 'none', amount: 0, currency: 'USD' },
      steps: Object.fromEntries(STEP_NAMES.map((name) => [name, 'pending'])),
      undos: {},
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
    };
    const accepted: Intake = {
      record,
      ...(opts.idempotencyKey ? { claim: idempotency.claimOf(customer.id, opts.idempotencyKey, hash, id) } : {}),
      ...(opts.acknowledge ? { acknowledgement: acknowledgementOf(customer.id, id, now) } : {}),
    };
    const earlier = await intake.accept(accepted);
    if (earlier) {
      const replay = duplicateOf(earlier, hash);
      // The earlier request may have written the purchase and lost its job (its add failed as the
      // master went away, or the failover lost it) before this retry: hand it off again while nothing
      // has run. The job id is the purchase's, so an add that did arrive is not doubled.
      if (await intake.unstarted(replay.id, STEP_NAMES[0]!)) {
        const start = startJob(replay.id, deps.policy);
        await deps.orchestrator(shard).add(start.name, start.data, start.opts);
      }
      return replay;
    }
    try {
      const start = startJob(id, deps.policy);
      await deps.orchestrator(shard).add(start.name, start.data, start.opts);
    } catch (err) {
      await intake.withdraw(accepted).catch(() => {});
      throw err;
    }
    // Replication is asynchronous: acknowledge once the master's replicas have the purchase, so
    // a failover right after the answer cannot lose it (bounded; see REDIS_WAIT_*).
    try {
      await deps.replicated?.(shard, id);
    } catch (err) {
      // Not withdrawn: the master that has the write is gone, and the purchase may run from its replica.
      deps.onHandOffError?.(err, shard);
      throw unavailable(
        'Redis failed over while your purchase was being accepted, so it may or may not have been saved. Retry with the same Idempotency-Key: that returns the purchase if it was saved and makes it once if not.',
      );
    }
    if (accepted.acknowledgement)
      await deliverByWebhook(deps.webhookQueue?.(shard), [accepted.acknowledgement]).catch(() => {});
    return { id, replay: false };
  };

  return {
    async submit(customer: Customer, body: PurchaseBody, opts: SubmitOptions = {}): Promise<Submitted> {
      try {
        const shard = deps.shardOf(customer.id);
        return await breaker.execute(() => handOff(shard, customer, body, opts), shard);
      } catch (err) {
        if (err instanceof AppError) throw err;
        deps.onHandOffError?.(err, deps.shardOf(customer.id));
        throw unavailable('The purchase orchestrator is unavailable; nothing was charged. Try again shortly.');
      }
    },
  };
}

export type PurchaseService = ReturnType<typeof createPurchaseService>;
