/** npm run audit — checks the contract's invariants over a running system's Redis and prints violations. */
import { createPaymentProvider } from './adapters/payment-provider.js';
import { runAudit } from './audit.js';
import { parseConfig, redisTargetOf } from './config.js';
import { keysFor } from './keys.js';
import { connectRedis, waitReady } from './redis.js';
import { createStores } from './stores/domain-stores.js';

const config = parseConfig(process.env);
const redis = connectRedis(redisTargetOf(config), 'worker');
await waitReady(redis);
const keys = keysFor(config);
const report = await runAudit(createStores(redis, keys), createPaymentProvider(config, redis, keys));
console.log(JSON.stringify(report.figures));
for (const v of report.violations) console.log(`VIOLATION ${v}`);
// The purchases to look at; an operator's Retry (POST /admin/purchases/:id/retry) repairs a lost order, unit or confirmation and a failed undo.
for (const id of report.purchases) console.log(`RETRY ${id}`);
console.log(
  `${report.violations.length} violations${report.quiet ? '' : ' (purchases still in flight: in-flight checks relaxed)'}`,
);
redis.disconnect();
process.exit(report.violations.length === 0 ? 0 : 1);
