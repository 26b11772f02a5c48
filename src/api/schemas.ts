import { z } from '@hono/zod-openapi';
import { FAULT_POINTS } from '../saga/saga.js';
import { FAULT_MODES } from '../stores/fault-store.js';

export const MAX_ITEMS = 50;
export const MAX_QUANTITY = 100;
export const MAX_BODY_BYTES = 64 * 1024;

/** POST /v1/purchases body: unknown fields are errors, not silently dropped. */
export const purchaseBody = z
  .object({
    items: z
      .array(
        z
          .object({
            productId: z.string().min(1).max(100),
            quantity: z.number().int().min(1).max(MAX_QUANTITY),
            customization: z
              .record(z.string(), z.unknown())
              .optional()
              .openapi({ description: "Checked against the product's customization schema." }),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_ITEMS),
    payment: z
      .object({
        token: z.string().min(1).max(200).openapi({ example: 'tok_visa' }),
        returnUrl: z
          .url({ protocol: /^https?$/ })
          .max(2_000)
          .optional()
          .openapi({ description: "Where the customer's browser goes after a payment action." }),
      })
      .strict(),
    outOfStock: z
      .enum(['remove', 'backorder'])
      .default('remove')
      .openapi({ description: 'What to do with items out of stock when others can be fulfilled.' }),
  })
  .strict()
  .openapi('PurchaseRequest');

export type PurchaseBody = z.infer<typeof purchaseBody>;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** POST /v1/purchases headers (Hono hands them over lower-cased). */
export const purchaseHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY, 'Idempotency-Key must be 1–255 visible ASCII characters.')
    .optional()
    .openapi({ description: 'The same key from the same customer within 24 h never creates a second purchase.' }),
  prefer: z.string().optional().openapi({
    description: '`respond-async`: answer 202 at once instead of waiting for the outcome.',
    example: 'respond-async',
  }),
});

export const idParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'pur_0b6f…' }),
});

export const stockBody = z.object({ stock: z.number().int().min(0).max(1_000_000_000) }).strict();
export const faultBody = z
  .object({
    point: z.enum(FAULT_POINTS as unknown as [string, ...string[]]),
    times: z.number().int().min(1).max(10_000).default(1),
    mode: z.enum(FAULT_MODES).default('error'),
  })
  .strict();
