import { ERRORS, type ErrorCode } from '../errors.js';
import { formatMoney } from './money.js';
import type { PaymentInfo, PlannedLine } from './record.js';

/** Every sentence a customer reads about a purchase (problem details, notifications), in one place. */
/** What became of the customer's money, once compensation ended: a hold released is never a charge. */
function moneyBack(payment: PaymentInfo): string {
  switch (payment.status) {
    case 'refunded':
      return ' Your payment was refunded.';
    case 'captured':
      return ' Your refund is being processed.';
    case 'voided':
      return ' The hold on your payment was released: you were not charged.';
    case 'authorized':
    case 'requires_action':
      return ' The hold on your payment is being released.';
    default:
      return ' You were not charged.';
  }
}

export const messages = {
  unknownProducts: (ids: string[]) => `unknown product: ${[...new Set(ids)].join(', ')}`,
  mixedCurrencies: () => 'products priced in different currencies cannot be bought together',
  ruleRejected: (rule: string, message: string) => `${rule}: ${message}`,
  nothingInStock: () => 'none of the requested products is in stock',
  missingDependency: (line?: PlannedLine) =>
    `a dependency of ${line?.productId} (${line?.dependencies.join(', ')}) is not available`,
  quotaReached: (line?: PlannedLine) => `quota of ${line?.quotaPerCustomer} for ${line?.productId} reached`,
  declined: (reason: string) => `payment declined: ${reason}`,
  captureRefused: (reason: string) => `the payment could not be taken: ${reason}`,
  actionRequired: (url: string | undefined, until: string) =>
    `Your bank asks you to confirm this payment${url ? ` at ${url}` : ''} before ${until}.`,
  actionTimedOut: 'the payment was not confirmed in time; the hold on it was released',
  actionFailed: 'the payment was not confirmed: the authentication failed or was declined',
  partnerFailed: (productId: string, reason: string | undefined) =>
    `the service providing ${productId} could not set it up${reason ? `: ${reason}` : ''}`,
  partnerTimedOut: (productId: string) => `the service providing ${productId} did not finish setting it up in time`,
  partnerCannotCallBack: (productId: string) =>
    `the service providing ${productId} answered that it is still working, but cannot report back (no secret to sign with)`,
  stepFailed: (step: string, why: string) => `${step} failed: ${why}`,
  /** A step whose job died (or stalled for good) without recording an outcome. */
  didNotComplete: (step: string, inTime = false) => `${step} did not complete${inTime ? ' in time' : ''}`,

  accepted: (purchaseId: string) => `Purchase ${purchaseId} accepted; we will let you know when it is done.`,
  orderPlaced: (orderId: string, lines: PlannedLine[], total: string) =>
    `Order ${orderId} placed: ${lines.map((l) => `${l.quantity} × ${l.productId}`).join(', ')}; total ${total}.`,
  provisioned: (line: PlannedLine) =>
    `${line.productId} is ready${line.dependencies.length ? ` (with ${line.dependencies.join(', ')})` : ''}.`,
  partlyFulfilled: (missing: string[]) => `Part of your order could not be fulfilled: ${missing.join(', ')}.`,
  failed: (purchaseId: string, code: ErrorCode, detail: string, payment: PaymentInfo) => {
    return `Purchase ${purchaseId} failed: ${ERRORS[code].title.toLowerCase()}. ${detail}.${moneyBack(payment)}`;
  },
  canceled: (purchaseId: string, payment: PaymentInfo) =>
    `Purchase ${purchaseId} was canceled as you asked.${moneyBack(payment)}`,
  orderCanceled: (orderId: string, payment: PaymentInfo) =>
    `Order ${orderId} was canceled as you asked.${payment.status === 'none' ? '' : moneyBack(payment)}`,
  notCancelable: {
    placed: (orderId?: string) => `the order is placed${orderId ? ` (${orderId})` : ''}; cancel the order instead`,
    /** True whichever way the placement goes: it makes no claim that the order exists. */
    placing: () =>
      'the order is being placed; it can no longer be canceled; if it cannot be placed, the purchase fails and your payment is returned',
    finished: (status: string) => `the purchase is already ${status}`,
    failing: () => 'the purchase is failing and being rolled back',
    orderWindow: (days: number) => `orders can be canceled within ${days} days of being placed`,
    orderGone: () => 'the purchase behind this order is no longer kept; contact support',
  },
  total: (amount: number, currency: string) => formatMoney(amount, currency),
} as const;
