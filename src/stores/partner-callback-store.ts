import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis.js';
import { defineCommands } from './lua/commands.js';

/** A partner's word on a unit it answered 202 for (contract §5.1). */
export interface PartnerWord {
  status: 'active' | 'failed';
  externalRef?: string;
  reason?: string;
}

/**
 * Partners' callbacks, recorded on the unit's Product Store document in one atomic step
 * (partner-callback-1.lua), so the saga reads the word whenever it next runs: a callback taken
 * while no worker runs is not lost.
 */
export class PartnerCallbackStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    defineCommands(redis);
  }

  /**
   * `taken` (it was pending, now decided), `again` (the same word before), `closed` (not waiting), `missing`.
   * `take: false` once the unit's purchase stopped running: nothing new is taken, a word taken before is answered.
   */
  record(unitId: string, word: PartnerWord, { take = true, now = new Date() } = {}) {
    return this.redis.partnerCallback(
      this.keys.provisioned(unitId),
      word.status,
      word.externalRef ?? '',
      word.reason ?? '',
      now.toISOString(),
      take ? 'take' : 'answer',
    );
  }
}
