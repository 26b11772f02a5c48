import type { RedisClient } from '../redis.js';
import { pageIndex, type IndexPage, type IndexPosition } from './keyset.js';

/**
 * JSON documents with a per-customer index, written once per deterministic id
 * so a step that runs twice stores one document. Orders, the Product Store and
 * notifications are all this shape. The index is scored by each document's own
 * `createdAt`, so a list is newest first by the time a client sees (contract §4.1).
 */
export class DocumentStore<T extends { id: string; customerId: string; createdAt: string }> {
  constructor(
    private readonly redis: RedisClient,
    private readonly docKey: (id: string) => string,
    private readonly indexKey: (customerId: string) => string,
    /** 0 keeps documents forever; otherwise each expires, and the index drops what has. */
    private readonly retentionS = 0,
  ) {}

  /** Stores `doc` unless its id exists; returns the stored document either way. */
  async putOnce(doc: T): Promise<T> {
    const [[, created]] = (await this.redis
      .multi()
      .set(this.docKey(doc.id), JSON.stringify(doc), 'NX')
      .zadd(this.indexKey(doc.customerId), 'NX', Date.parse(doc.createdAt), doc.id)
      .exec()) as [[unknown, unknown]];
    return created ? doc : ((await this.get(doc.id)) ?? doc);
  }

  /** putOnce for several documents in one round trip. */
  async putAllOnce(docs: T[]): Promise<void> {
    const tx = this.redis.multi();
    for (const doc of docs) {
      if (this.retentionS > 0) tx.set(this.docKey(doc.id), JSON.stringify(doc), 'EX', this.retentionS, 'NX');
      else tx.set(this.docKey(doc.id), JSON.stringify(doc), 'NX');
      tx.zadd(this.indexKey(doc.customerId), 'NX', Date.parse(doc.createdAt), doc.id);
    }
    if (this.retentionS > 0) {
      const expired = Date.now() - this.retentionS * 1000;
      for (const customerId of new Set(docs.map((d) => d.customerId)))
        tx.zremrangebyscore(this.indexKey(customerId), 0, expired);
    }
    await tx.exec();
  }

  async replace(doc: T): Promise<void> {
    await this.redis.set(this.docKey(doc.id), JSON.stringify(doc), 'XX');
  }

  async get(id: string): Promise<T | undefined> {
    const raw = await this.redis.get(this.docKey(id));
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  async getMany(ids: string[]): Promise<(T | undefined)[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.mget(ids.map(this.docKey));
    return raw.map((r) => (r ? (JSON.parse(r) as T) : undefined));
  }

  /** A page of the customer's documents, newest first, after `after` (keyset; see pageIndex). */
  pageByCustomer(customerId: string, after: IndexPosition | undefined, limit: number): Promise<IndexPage<T>> {
    return pageIndex(this.redis, this.indexKey(customerId), after, limit, (ids) => this.getMany(ids));
  }

  /** The customer's documents, newest first. */
  async listByCustomer(customerId: string, limit = 100): Promise<T[]> {
    const ids = await this.redis.zrevrange(this.indexKey(customerId), 0, limit - 1);
    return (await this.getMany(ids)).filter((d): d is T => d !== undefined);
  }
}
