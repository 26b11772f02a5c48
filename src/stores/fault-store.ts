import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';

export const FAULT_POINTS = ['inventory.commit', 'order.place', 'payment.charge', 'provision', 'external'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const TAKE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return 0 end
redis.call('DECR', KEYS[1])
return 1
`;

/** Operator-injected failures: the next `times` calls at a point fail (retries count). */
export class FaultStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async arm(point: FaultPoint, times: number): Promise<void> {
    await this.redis.set(this.keys.fault(point), times);
  }

  async clear(): Promise<void> {
    await this.redis.del(...FAULT_POINTS.map((p) => this.keys.fault(p)));
  }

  /** True when this call should fail; consumes one armed failure. */
  async take(point: FaultPoint): Promise<boolean> {
    return ((await this.redis.eval(TAKE, 1, this.keys.fault(point))) as number) === 1;
  }
}
