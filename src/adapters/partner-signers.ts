import type { Product } from '../catalog/catalog-file.js';
import { signerOf, type Signer } from './webhook-signing.js';

/** Signers by the environment variable that holds their secret (an integration's `secretEnv`). */
export type PartnerSigners = ReadonlyMap<string, Signer>;

/**
 * Resolves every partner secret the catalog names from this process's environment: the catalog, and
 * so Redis, hold only names. A variable unset or malformed stops start-up, naming it and its products.
 */
export function partnerSigners(products: readonly Product[], env: Record<string, string | undefined>): PartnerSigners {
  const users = new Map<string, string[]>();
  for (const { id, integration } of products)
    if (integration?.secretEnv) users.set(integration.secretEnv, [...(users.get(integration.secretEnv) ?? []), id]);
  const signers = new Map<string, Signer>();
  const problems: string[] = [];
  for (const [name, ids] of users) {
    const signer = signerOf(env[name]);
    if (typeof signer === 'string') problems.push(`${name} (secretEnv of ${ids.join(', ')}) ${signer}`);
    else signers.set(name, signer);
  }
  if (problems.length > 0) throw new Error(`partner secret ${problems.join('; ')}`);
  return signers;
}
