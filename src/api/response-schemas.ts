import { z } from '@hono/zod-openapi';
import { ERRORS, type ErrorCode } from '../errors.js';
import { NOTIFICATION_TYPES } from '../purchase/documents.js';
import { PAYMENT_STATUSES, type PurchaseStatus, type StepStatus, type UndoState } from '../purchase/record.js';
import { STEP_NAMES as NAMES, type StepName } from '../saga/saga.js';

/*
 * The bodies the gateway sends, as zod schemas: @hono/zod-openapi turns them into the
 * document's components, and the route handlers are type-checked against them. Objects are
 * left open (no additionalProperties: false) so that a field added later does not break a
 * client that validates; the tests close them to catch a field the document does not name.
 */

const PURCHASE_STATUSES = [
  'accepted',
  'processing',
  'requires_action',
  'completed',
  'partially_fulfilled',
  'failed',
  'canceled',
] as const satisfies readonly PurchaseStatus[];
const STEP_STATUSES = [
  'pending',
  'waiting',
  'completed',
  'failed',
  'compensated',
  'skipped',
] as const satisfies readonly StepStatus[];
const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];
const STEP_NAMES = [...NAMES] as [StepName, ...StepName[]];
const UNDO_STATUSES = ['pending', 'retrying', 'done', 'failed'] as const satisfies readonly UndoState['status'][];

const timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-22T10:00:00.000Z' });
const customization = z.record(z.string(), z.unknown());
export const money = z
  .object({
    amount: z.number().int().openapi({ description: 'Minor units (cents).', example: 1999 }),
    currency: z.string().openapi({ example: 'USD' }),
  })
  .openapi('Money');

export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://purchase.example/problems/out-of-stock' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    code: z.enum(ERROR_CODES).openapi({ description: 'The stable machine value (contract §3).' }),
    purchaseId: z.string().optional().openapi({ description: "Set when the problem reports a purchase's outcome." }),
    orderId: z.string().optional().openapi({
      description: 'Set when a purchase is not cancelable because its order is placed: cancel that order.',
    }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details.' });

const line = z.object({ productId: z.string(), quantity: z.number().int(), customization });
export const purchaseLine = line
  .extend({
    unitPrice: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'Minor units; known once the purchase is validated.' }),
    free: z.boolean().optional().openapi({ description: 'Added by a rule: shipped, never charged.' }),
  })
  .openapi('PurchaseLine');

export const purchaseView = z
  .object({
    id: z.string(),
    status: z.enum(PURCHASE_STATUSES),
    items: z.array(purchaseLine),
    removed: z.array(purchaseLine).openapi({ description: 'Out of stock, left out (outOfStock: remove).' }),
    backordered: z.array(purchaseLine).openapi({ description: 'Out of stock, backordered (outOfStock: backorder).' }),
    steps: z.array(
      z.object({
        name: z.enum(STEP_NAMES),
        status: z.enum(STEP_STATUSES),
        until: timestamp
          .optional()
          .openapi({ description: 'While `waiting`: the deadline of the wait for the outside world.' }),
        undo: z
          .object({ status: z.enum(UNDO_STATUSES), attempts: z.number().int() })
          .optional()
          .openapi({
            description:
              "The step's undo while an outside system is still being cleaned up (retrying), or once that failed for good.",
          }),
      }),
    ),
    payment: z.object({
      status: z.enum(PAYMENT_STATUSES),
      amount: z.number().int(),
      currency: z.string(),
      nextAction: z
        .object({ type: z.enum(['redirect']), url: z.string() })
        .optional()
        .openapi({ description: 'While `requires_action`: where the customer completes the payment.' }),
      actionExpiresAt: timestamp.optional().openapi({ description: 'While `requires_action`: until when it waits.' }),
    }),
    orderId: z.string().optional(),
    error: z
      .object({ code: z.enum(ERROR_CODES), detail: z.string(), step: z.string().optional() })
      .optional()
      .openapi({ description: 'Why a failed purchase failed.' }),
    appliedRules: z.array(z.string()).optional(),
    review: z
      .object({ status: z.enum(['manual_review', 'resolved']), reason: z.string() })
      .optional()
      .openapi({ description: 'An undo that could not complete: an operator finishes it (`resolved` once done).' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Purchase');

export const acknowledgement = z
  .object({
    id: z.string(),
    status: z
      .enum(PURCHASE_STATUSES)
      .openapi({ description: '`accepted`, or `processing` once the saga has started.' }),
    statusUrl: z.string().openapi({ example: '/v1/purchases/pur_0b6f…' }),
  })
  .openapi('PurchaseAccepted');

export const orderSchema = z
  .object({
    id: z.string(),
    purchaseId: z.string(),
    customerId: z.string(),
    items: z.array(line.extend({ unitPrice: z.number().int() })),
    backordered: z.array(line),
    total: money,
    appliedRules: z.array(z.string()),
    status: z.enum(['placed', 'canceled']),
    createdAt: timestamp,
    canceledAt: timestamp.optional().openapi({ description: 'Set once the order is canceled.' }),
  })
  .openapi('Order');

export const provisionedSchema = z
  .object({
    id: z.string(),
    productId: z.string(),
    purchaseId: z.string(),
    customization,
    dependencyOf: z
      .string()
      .nullable()
      .openapi({ description: 'The product this unit came with, when it is a dependency.' }),
    integration: z
      .object({
        status: z.enum(['pending', 'established', 'failed', 'removed']).openapi({
          description: '`pending` while its partner works on it (§5.1), `failed` when the partner said so.',
        }),
        externalRef: z.string().nullable(),
      })
      .nullable(),
    status: z.enum(['active', 'deprovisioned']),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('ProvisionedProduct', { description: 'A Product Store record.' });

export const notificationSchema = z
  .object({
    id: z.string(),
    type: z.enum(NOTIFICATION_TYPES),
    purchaseId: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
    createdAt: timestamp,
  })
  .openapi('Notification');

export const productSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    price: money,
    available: z.number().int().openapi({ description: 'Units available for sale now.' }),
    customization: customization
      .optional()
      .openapi({ description: 'A JSON Schema the customization of an item must meet.' }),
    quotaPerCustomer: z.number().int().optional(),
    dependencies: z
      .array(z.string())
      .openapi({ description: 'Provisioned with the product, one unit each, not charged.' }),
  })
  .openapi('Product', {
    description:
      "A catalog product. Who provisions it (a partner's address, secret, limits) is the operator's business.",
  });
