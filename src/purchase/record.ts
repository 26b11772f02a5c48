import type { ErrorCode } from '../errors.js';

/** The contract's purchase statuses; the last four are terminal. */
export type PurchaseStatus =
  | 'accepted'
  | 'processing'
  /** Waiting for the customer's payment action (contract §4.4); not terminal. */
  | 'requires_action'
  | 'completed'
  | 'partially_fulfilled'
  | 'failed'
  | 'canceled';
/** `waiting`: parked until the outside world answers (the customer, a partner) or its deadline passes. */
export type StepStatus = 'pending' | 'waiting' | 'completed' | 'failed' | 'compensated' | 'skipped';
/** running → compensating → done, or running → done; only `done` has a terminal status. */
export type Phase = 'running' | 'compensating' | 'done';
export type OutOfStockPolicy = 'remove' | 'backorder';
/** Per plan line: fulfilled now, or out of stock (removed or backordered by policy). */
export type LineOutcome = 'fulfilled' | 'out_of_stock';

export const TERMINAL: ReadonlySet<PurchaseStatus> = new Set([
  'completed',
  'partially_fulfilled',
  'failed',
  'canceled',
]);

/** Statuses a synchronous request answers with: terminal ones, and a purchase waiting for its customer (202). */
export const ANSWERABLE: ReadonlySet<PurchaseStatus> = new Set([...TERMINAL, 'requires_action']);

export interface RequestedItem {
  productId: string;
  quantity: number;
  customization?: Record<string, unknown>;
}

export interface PurchaseRequest {
  items: RequestedItem[];
  outOfStock: OutOfStockPolicy;
  paymentToken: string;
  /** Where the customer's browser goes after a payment action (contract §4). */
  returnUrl?: string;
  roles: string[];
}

export interface PlannedLine {
  productId: string;
  quantity: number;
  unitPrice: number;
  customization: Record<string, unknown>;
  /** Added by a rule (`addItem`): shipped, never charged. */
  free: boolean;
  dependencies: string[];
  quotaPerCustomer?: number;
  integrationUrl?: string;
}

export interface Plan {
  lines: PlannedLine[];
  currency: string;
  discountPercent: number;
  appliedRules: string[];
}

/**
 * The purchase's money, as the customer sees it (contract §4): `authorized` is a hold, `captured` a
 * charge; `voided` a hold released (never charged), `refunded` a charge given back.
 */
export const PAYMENT_STATUSES = [
  'none',
  'requires_action',
  'authorized',
  'captured',
  'voided',
  'refunded',
  'declined',
] as const;

export interface PaymentInfo {
  status: (typeof PAYMENT_STATUSES)[number];
  amount: number;
  currency: string;
  /** The provider's payment, recorded before any money moves: a lost answer is resolved by it. */
  paymentId?: string;
  /** While `requires_action`: where the customer completes it, and until when the purchase waits. */
  nextAction?: { type: 'redirect'; url: string };
  actionExpiresAt?: string;
}

export interface PurchaseError {
  code: ErrorCode;
  detail: string;
  step?: string;
}

/**
 * Where the undo of one step stands. `pending` until its first attempt ends, `retrying`
 * while attempts fail, then `done` (undone, or nothing to undo) or `failed` for good.
 */
export interface UndoState {
  status: 'pending' | 'retrying' | 'done' | 'failed';
  attempts: number;
  /** The last attempt's error, while retrying or once failed. */
  error?: string;
  at: string;
}

/** The saga record: the source of truth for a purchase; BullMQ is only the transport. */
export interface PurchaseRecord {
  id: string;
  customerId: string;
  status: PurchaseStatus;
  phase: Phase;
  createdAt: string;
  updatedAt: string;
  request: PurchaseRequest;
  plan?: Plan;
  allocation?: LineOutcome[];
  payment: PaymentInfo;
  orderId?: string;
  /** The step parked until the outside world answers, and its deadline (null once it went on). */
  waiting?: { step: string; until: string } | null;
  error?: PurchaseError;
  /** Each saga step's status, by step name (the saga list names them). */
  steps: Record<string, StepStatus>;
  /** The undo of each step compensation planned, by step name. */
  undos: Record<string, UndoState>;
  /** Set when a compensation could not complete: an operator must look. */
  review?: string;
  /** How the review ended: by a retry that left nothing undone, or by an operator's hand. */
  reviewResolution?: ReviewResolution;
  /** The customer asked to cancel (contract §4.3): the saga stops at its next step boundary. */
  cancelRequestedAt?: string;
  /** The pivot (order placement) was claimed: from then on a cancel is refused. */
  pivotClaimedAt?: string;
  /** The customer asked to cancel the placed order: the order-cancel saga runs. */
  orderCancelRequestedAt?: string;
  /** The order-cancel saga marked the order canceled (its money and stock are back). */
  orderCanceledAt?: string;
  /** When each step's status last changed, by step name. */
  stepTimes?: Record<string, string>;
  /** The gateway request that created it, for log correlation. */
  requestId?: string;
}

export interface ReviewResolution {
  how: 'retry' | 'manual';
  by: string;
  at: string;
  note?: string;
}

/**
 * The review state an operator sees: flagged and open, or resolved. A resolution counts only
 * if no undo failed after it: an undo that fails for good later puts the purchase back in review.
 */
export function reviewStatus(r: PurchaseRecord): 'manual_review' | 'resolved' | undefined {
  if (!r.review) return undefined;
  const resolution = r.reviewResolution;
  if (!resolution) return 'manual_review';
  const failedLater = Object.values(r.undos).some((u) => u.status === 'failed' && u.at > resolution.at);
  return failedLater ? 'manual_review' : 'resolved';
}

/** Flagged for review and not (or no longer) resolved: an operator must look. */
export const inReview = (r: PurchaseRecord) => reviewStatus(r) === 'manual_review';

/** An undo not yet ended: the purchase is not settled while one runs. */
export const undoOpen = (u: UndoState | undefined) => u?.status === 'pending' || u?.status === 'retrying';

/** Terminal, and no undo of an outside system still being worked on: nothing about it will change by itself. */
export const isSettled = (r: PurchaseRecord) =>
  TERMINAL.has(r.status) && !Object.values(r.undos).some(undoOpen) && !orderCancelOpen(r);

/** An order cancel requested and not yet settled (its order not yet marked canceled). */
export const orderCancelOpen = (r: PurchaseRecord) => Boolean(r.orderCancelRequestedAt && !r.orderCanceledAt);

/** What a step or the engine may write on a record: every field but the id and the per-step maps. */
export type RecordFields = Partial<Omit<PurchaseRecord, 'id' | 'steps' | 'undos' | 'stepTimes'>>;

export interface PurchaseEvent {
  id: string;
  status: PurchaseStatus;
  step?: string;
  stepStatus?: StepStatus;
  /** On terminal events: the record's hash as field/value pairs (see recordOfEvent). */
  record?: string[];
}
