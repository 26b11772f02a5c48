import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const money = z.object({ amount: z.number().int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) });

/** How long a partner that answered 202 has to call back (contract §5.1), when its integration does not say. */
export const DEFAULT_CALLBACK_TIMEOUT_S = 300;

/**
 * A partner service that provisions the product (contract §5.1). The catalog names the environment
 * variable that holds the partner's secret, never the secret: each process resolves it at start-up.
 */
const integrationSchema = z.object({
  url: z.url(),
  secretEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable')
    .optional(),
  /** Per call to this partner; INTEGRATION_TIMEOUT_MS when absent. */
  timeoutMs: z.number().int().positive().optional(),
  // Optional in the type though parsing fills it in: definitions stored by an older version lack it.
  callbackTimeoutS: z.number().int().positive().default(DEFAULT_CALLBACK_TIMEOUT_S).optional(),
});

export type Integration = z.infer<typeof integrationSchema>;

export const productSchema = z.object({
  id: z.string().regex(/^[\w.-]{1,100}$/),
  name: z.string().min(1),
  description: z.string().optional(),
  price: money,
  stock: z.number().int().min(0),
  customization: z.record(z.string(), z.unknown()).optional(),
  quotaPerCustomer: z.number().int().positive().optional(),
  dependencies: z.array(z.string()).default([]),
  integration: integrationSchema.optional(),
});

export type Product = z.infer<typeof productSchema>;
/** A product as stored: its definition without the stock, which lives in Redis alone. */
export type ProductDef = Omit<Product, 'stock'>;

const catalogSchema = z.object({ products: z.array(productSchema).min(1) }).superRefine((catalog, ctx) => {
  const ids = new Set(catalog.products.map((p) => p.id));
  if (ids.size !== catalog.products.length) ctx.addIssue({ code: 'custom', message: 'duplicate product id' });
  for (const p of catalog.products) {
    for (const dep of p.dependencies) {
      if (!ids.has(dep) || dep === p.id) {
        ctx.addIssue({ code: 'custom', message: `product ${p.id}: dependency ${dep} is not in the catalog` });
      }
    }
  }
});

export async function readCatalogFile(file: string): Promise<Product[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`CATALOG_FILE ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = catalogSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `CATALOG_FILE ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data.products;
}
