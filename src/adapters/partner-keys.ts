import type { Product } from '../catalog/catalog-file.js';
import { webhookKeyOf, type WebhookKey } from './webhook-signing.js';

/** Partners' keys (signing our calls, verifying their callbacks) by the environment variable that holds the secret (`secretEnv`). */
export type PartnerKeys = ReadonlyMap<string, WebhookKey>;

/**
 * Resolves every partner secret the catalog names from this process's environment: the catalog, and
 * so Redis, hold only names. A variable unset or malformed stops start-up, naming it and its products.
 */
export function partnerKeys(products: readonly Product[], env: Record<string, string | undefined>): PartnerKeys {
  const users = new Map<string, string[]>();
  for (const { id, integration } of products)
    if (integration?.secretEnv) users.set(integration.secretEnv, [...(users.get(integration.secretEnv) ?? []), id]);
  const keys = new Map<string, WebhookKey>();
  const problems: string[] = [];
  for (const [name, ids] of users) {
    const key = webhookKeyOf(env[name]);
    if (typeof key === 'string') problems.push(`${name} (secretEnv of ${ids.join(', ')}) ${key}`);
    else keys.set(name, key);
  }
  if (problems.length > 0) throw new Error(`partner secret ${problems.join('; ')}`);
  return keys;
}
