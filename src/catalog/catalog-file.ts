import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const money = z.object({ amount: z.number().int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) });

export const productSchema = z.object({
  id: z.string().regex(/^[\w.-]{1,100}$/),
  name: z.string().min(1),
  description: z.string().optional(),
  price: money,
  stock: z.number().int().min(0),
  customization: z.record(z.string(), z.unknown()).optional(),
  quotaPerCustomer: z.number().int().positive().optional(),
  dependencies: z.array(z.string()).default([]),
  integration: z.object({ url: z.url() }).optional(),
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
