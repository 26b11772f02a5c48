import { randomUUID } from 'node:crypto';

/**
 * Every id derived from a purchase, in one place: the "acts once" guarantee rests on
 * each retry and each re-run computing the same id (a job BullMQ finds again, a
 * provider key that is charged once, a document written with SET NX).
 * BullMQ rejects `:` in custom job ids, hence the dashes.
 */

/**
 * `pur_` + the purchase's shard as two hex digits + 30 random hex digits (120 bits). Every id
 * below is derived from it and keeps those two digits right after its `xxx_` type, so the
 * watchdog, the audit and an operator find any key from an id alone (keys.ts: shardInId).
 */
export const newPurchaseId = (shard = 0) =>
  `pur_${shard.toString(16).padStart(2, '0')}${randomUUID().replaceAll('-', '').slice(2)}`;

/** A stage's job: `${purchaseId}-${stage}`. */
export const stageJobId = (purchaseId: string, stage: string) => `${purchaseId}-${stage}`;
/** The undo job of a step. */
export const undoJobId = (purchaseId: string, step: string) => `${purchaseId}-undo-${step}`;
/** The job that ends a failed purchase once its money and stock are back. */
export const settleJobId = (purchaseId: string) => `${purchaseId}-settle`;

/** The job that starts an order's cancel saga (the gateway's hand-off), and the one that ends it. */
export const orderCancelJobId = (purchaseId: string) => `${purchaseId}-cancel-order`;
export const orderSettleJobId = (purchaseId: string) => `${purchaseId}-settle-order`;

/** An operator's retry: one job per request (a retry is idempotent, so two running together is harmless). */
export const retryJobId = (purchaseId: string, at = Date.now()) => `${purchaseId}-retry-${at}`;
/** An operator retry's queued redo of a step whose work was lost (`job`: the repair's job name): one per retry. */
export const redoJobId = (purchaseId: string, job: string, at = Date.now()) => `${purchaseId}-${job}-${at}`;

/** The order a purchase places in the OMS. */
export const orderIdFor = (purchaseId: string) => purchaseId.replace(/^pur_/, 'ord_');

/** A payment operation's idempotency key at the provider: the same on every retry, one per purchase and operation. */
export const paymentKey = (purchaseId: string, op: 'prepare' | 'authorize' | 'capture' | 'void' | 'refund') =>
  `${purchaseId}-payment-${op}`;
/** The built-in provider's payment of a purchase: one per purchase, on its shard. */
export const builtinPaymentId = (purchaseId: string) => purchaseId.replace(/^pur_/, 'pay_');

/** A Product Store unit: `quantity` units per fulfilled line, each dependency a unit of its own. */
export const unitId = (purchaseId: string, line: number, unit: number) => `${purchaseId}-${line}-${unit}`;
export const dependencyUnitId = (unit: string, dependency: string) => `${unit}-${dependency}`;
/** The Idempotency-Key an outside service gets: the same on every retry of one call. */
export const partnerKey = (unit: string, event: 'provision' | 'deprovision') =>
  event === 'provision' ? unit : `${unit}-deprovision`;
/** What holds one place at a partner: a purchase's provision (or its undo), all of its units together. */
export const partnerPlace = (purchaseId: string, event: 'provision' | 'deprovision') => `${purchaseId}-${event}`;

/** Derived from purchase, type and seq, so writing it again finds the first one. */
export const notificationId = (purchaseId: string, type: string, seq?: number) =>
  `ntf_${purchaseId.replace(/^pur_/, '')}_${type}${seq === undefined ? '' : `_${seq}`}`;
