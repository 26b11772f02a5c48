import { z } from 'zod';
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
            customization: z.record(z.string(), z.unknown()).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_ITEMS),
    payment: z.object({ token: z.string().min(1).max(200) }).strict(),
    outOfStock: z.enum(['remove', 'backorder']).default('remove'),
  })
  .strict();

export type PurchaseBody = z.infer<typeof purchaseBody>;

export const stockBody = z.object({ stock: z.number().int().min(0).max(1_000_000_000) }).strict();
export const faultBody = z
  .object({
    point: z.enum(FAULT_POINTS as unknown as [string, ...string[]]),
    times: z.number().int().min(1).max(10_000).default(1),
    mode: z.enum(FAULT_MODES).default('error'),
  })
  .strict();

/** Renders zod issues as one readable line for a validation_error detail. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}
