import type { RedisClient } from '../redis.js';
import type { Keys } from '../keys.js';
import { defineCommands } from './lua/commands.js';

/** `error` fails the call; `crash` kills the worker process mid-step (chaos testing). */
export const FAULT_MODES = ['error', 'crash'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** Operator-injected failures: the next `times` calls at a point fail (retries count). */
export class FaultStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    defineCommands(redis);
  }

  /** Arms `point` (the saga list names the points); armed points are indexed so clear finds them all. */
  async arm(point: string, times: number, mode: FaultMode = 'error'): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.fault(point))
      .hset(this.keys.fault(point), 'times', times, 'mode', mode)
      .sadd(this.keys.faultsArmed, point)
      .exec();
  }

  async clear(): Promise<void> {
    const points = await this.redis.smembers(this.keys.faultsArmed);
    await this.redis.del(this.keys.faultsArmed, ...points.map((p) => this.keys.fault(p)));
  }

  /** The mode of the armed failure this call should suffer, consuming it; null when none is armed. */
  async take(point: string): Promise<FaultMode | null> {
    return ((await this.redis.takeFault(this.keys.fault(point))) as FaultMode | null) ?? null;
  }
}
