import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { defineCommands } from './lua/commands.js';

export const FAULT_POINTS = ['inventory.commit', 'order.place', 'payment.charge', 'provision', 'external'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];
/** `error` fails the call; `crash` kills the worker process mid-step (chaos testing). */
export const FAULT_MODES = ['error', 'crash'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** Operator-injected failures: the next `times` calls at a point fail (retries count). */
export class FaultStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    defineCommands(redis);
  }

  async arm(point: FaultPoint, times: number, mode: FaultMode = 'error'): Promise<void> {
    await this.redis.multi().del(this.keys.fault(point)).hset(this.keys.fault(point), 'times', times, 'mode', mode).exec();
  }

  async clear(): Promise<void> {
    await this.redis.del(...FAULT_POINTS.map((p) => this.keys.fault(p)));
  }

  /** The mode of the armed failure this call should suffer, consuming it; null when none is armed. */
  async take(point: FaultPoint): Promise<FaultMode | null> {
    return ((await this.redis.takeFault(this.keys.fault(point))) as FaultMode | null) ?? null;
  }
}
