import { PAYMENT_RETURN_PATH, publicUrlOf, type Config } from '../config.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis.js';
import { BuiltinPaymentProvider } from './builtin-provider.js';
import type { PaymentProvider } from './payments.js';
import { StripePaymentProvider } from './stripe-provider.js';

/** The provider PAYMENT_PROVIDER names: the built-in one (its ledger on `redis`) or Stripe. */
export function createPaymentProvider(
  config: Pick<Config, 'PAYMENT_PROVIDER' | 'STRIPE_SECRET_KEY' | 'STRIPE_API_BASE' | 'PUBLIC_URL' | 'PORT'>,
  redis: RedisClient,
  keys: Keys,
): PaymentProvider {
  if (config.PAYMENT_PROVIDER === 'stripe')
    return new StripePaymentProvider({
      secretKey: config.STRIPE_SECRET_KEY!,
      apiBase: config.STRIPE_API_BASE,
      defaultReturnUrl: `${publicUrlOf(config)}${PAYMENT_RETURN_PATH}`,
    });
  return new BuiltinPaymentProvider(redis, keys, (secret) => `${publicUrlOf(config)}/pay/${secret}`);
}
