import type { Redis } from 'ioredis';
import { luaScript } from '../lua.js';
import type { Keys } from '../keys.js';

export const FAULT_POINTS = ['inventory.commit', 'order.place', 'payment.charge', 'provision', 'external'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];
/** `error` fails the call; `crash` kills the worker process mid-step (chaos testing). */
export const FAULT_MODES = ['error', 'crash'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

const TAKE = luaScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'times') or '0')
if n <= 0 then return false end
redis.call('HINCRBY', KEYS[1], 'times', -1)
return redis.call('HGET', KEYS[1], 'mode') or 'error'
`);

/** Operator-injected failures: the next `times` calls at a point fail (retries count). */
export class FaultStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async arm(point: FaultPoint, times: number, mode: FaultMode = 'error'): Promise<void> {
    await this.redis.multi().del(this.keys.fault(point)).hset(this.keys.fault(point), 'times', times, 'mode', mode).exec();
  }

  async clear(): Promise<void> {
    await this.redis.del(...FAULT_POINTS.map((p) => this.keys.fault(p)));
  }

  /** The mode of the armed failure this call should suffer, consuming it; null when none is armed. */
  async take(point: FaultPoint): Promise<FaultMode | null> {
    return ((await TAKE(this.redis, [this.keys.fault(point)], [])) as FaultMode | null) ?? null;
  }
}
