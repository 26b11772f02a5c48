import { createHash, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { AppError } from '../errors.js';
import { startJob } from '../flows/purchase-flow.js';
import { STEPS, type RetryPolicy } from '../queues/contract.js';
import type { Stores } from '../stores/domain-stores.js';
import type { IdempotencyStore } from '../stores/idempotency-store.js';
import type { PurchaseRecord } from '../stores/purchase-store.js';
import type { OrchestratorBreaker } from './breaker.js';
import type { Customer } from './middleware/auth.js';
import type { PurchaseBody } from './schemas.js';

export interface Submitted {
  id: string;
  /** True when an Idempotency-Key matched an earlier purchase. */
  replay: boolean;
}

export interface PurchaseServiceDeps {
  stores: Stores;
  idempotency: IdempotencyStore;
  /** The orchestrator queue: the gateway hands a purchase over with its `prepare` job. */
  orchestrator: Queue;
  breaker: OrchestratorBreaker;
  policy: RetryPolicy;
  /** True while at least one workers process has a fresh heartbeat. */
  workersAlive(): Promise<boolean>;
}

const unavailable = (detail: string) => new AppError('service_unavailable', detail, {}, { 'retry-after': '5' });

export const newPurchaseId = () => `pur_${randomUUID().replaceAll('-', '')}`;

function bodyHash(body: PurchaseBody): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/**
 * Hands a purchase to the orchestrator: record first, then its `start` job. If the job
 * cannot be enqueued the record and the idempotency claim are removed, so a 503
 * leaves nothing behind to run later by surprise.
 */
export function createPurchaseService(deps: PurchaseServiceDeps) {
  const { stores, idempotency, breaker } = deps;

  const handOff = async (customer: Customer, body: PurchaseBody, idemKey: string | undefined, requestId: string | undefined): Promise<Submitted> => {
    const id = newPurchaseId();
    if (idemKey) {
      const claim = await idempotency.claim(customer.id, idemKey, bodyHash(body), id);
      if (claim.status === 'conflict') throw new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body.');
      if (claim.status === 'replay') return { id: claim.purchaseId, replay: true };
    }
    const giveBack = async () => {
      await stores.purchases.discard(id).catch(() => {});
      if (idemKey) await idempotency.release(customer.id, idemKey).catch(() => {});
    };
    if (!(await deps.workersAlive())) {
      await giveBack();
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
      request: { items: body.items, outOfStock: body.outOfStock, paymentToken: body.payment.token, roles: customer.roles },
      payment: { status: 'none', amount: 0, currency: 'USD' },
      steps: Object.fromEntries(STEPS.map((s) => [s.name, 'pending'])) as PurchaseRecord['steps'],
      ...(requestId ? { requestId } : {}),
    };
    try {
      await stores.purchases.create(record);
      const start = startJob(id, deps.policy);
      await deps.orchestrator.add(start.name, start.data, start.opts);
    } catch (err) {
      await giveBack();
      throw err;
    }
    return { id, replay: false };
  };

  return {
    async submit(customer: Customer, body: PurchaseBody, idemKey: string | undefined, requestId?: string): Promise<Submitted> {
      try {
        return await breaker.execute(() => handOff(customer, body, idemKey, requestId));
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw unavailable('The purchase orchestrator is unavailable; nothing was charged. Try again shortly.');
      }
    },
  };
}

export type PurchaseService = ReturnType<typeof createPurchaseService>;
