import type { PartnerStatus } from '../adapters/partner-outcomes.js';
import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis.js';

/** A partner's circuit as one workers process last published it. */
export interface PublishedPartnerStatus extends PartnerStatus {
  /** The workers process whose circuit this is. */
  process: string;
  updatedAt: string;
}

/** How often a workers process publishes its partners' circuits, beside every change. */
export const PARTNER_STATUS_REFRESH_MS = 5_000;
/** An entry older than this belongs to a process that stopped publishing: not shown. */
const FRESH_MS = 3 * PARTNER_STATUS_REFRESH_MS;
/** Long gone processes' entries are dropped when the console reads them. */
const FORGET_MS = 24 * 3_600_000;

/**
 * Each workers process's partner circuits, in one hash: the breakers live in the workers, the console
 * in the gateway. A process publishes on every change and periodically; an entry that was not
 * refreshed for a while belongs to a process that is gone.
 */
export class PartnerStatusStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async publish(process: string, statuses: PartnerStatus[]): Promise<void> {
    if (statuses.length === 0) return;
    const updatedAt = new Date().toISOString();
    const fields = statuses.flatMap((s) => [`${process} ${s.partner}`, JSON.stringify({ ...s, process, updatedAt })]);
    await this.redis.hset(this.keys.partnerStatus, ...fields);
  }

  /** A process that stops takes its entries away. */
  async withdraw(process: string, partners: string[]): Promise<void> {
    if (partners.length > 0) await this.redis.hdel(this.keys.partnerStatus, ...partners.map((p) => `${process} ${p}`));
  }

  /** The entries of live processes, by partner then process. */
  async list(): Promise<PublishedPartnerStatus[]> {
    const all = Object.entries(await this.redis.hgetall(this.keys.partnerStatus)).map(
      ([field, json]) => [field, JSON.parse(json) as PublishedPartnerStatus] as const,
    );
    const age = (s: PublishedPartnerStatus) => Date.now() - Date.parse(s.updatedAt);
    const forgotten = all.filter(([, s]) => age(s) > FORGET_MS).map(([field]) => field);
    if (forgotten.length > 0) await this.redis.hdel(this.keys.partnerStatus, ...forgotten);
    return all
      .map(([, s]) => s)
      .filter((s) => age(s) <= FRESH_MS)
      .sort((a, b) => a.partner.localeCompare(b.partner) || a.process.localeCompare(b.process));
  }
}
