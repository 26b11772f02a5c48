import type { RedisClient } from '../redis.js';
import type { Product, ProductDef } from '../catalog/catalog-file.js';
import type { Keys } from '../keys.js';
import { defineCommands } from './lua/commands.js';

/** Conserved: available + reserved + sold = stocked, each never below zero. */
export interface StockLevel {
  available: number;
  reserved: number;
  sold: number;
  stocked: number;
}

export interface CatalogEntry extends ProductDef {
  available: number;
}

/** Product definitions and their stock counters. */
export class CatalogStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    defineCommands(redis);
  }

  /** Adds new products and refreshes definitions; never resets a known product's stock. */
  async load(products: Product[]): Promise<void> {
    const tx = this.redis.multi();
    for (const { stock, ...def } of products) {
      tx.set(this.keys.product(def.id), JSON.stringify(def));
      tx.sadd(this.keys.productIds, def.id);
      tx.hsetnx(this.keys.stock(def.id), 'available', stock);
      tx.hsetnx(this.keys.stock(def.id), 'reserved', 0);
      tx.hsetnx(this.keys.stock(def.id), 'sold', 0);
      tx.hsetnx(this.keys.stock(def.id), 'stocked', stock);
    }
    await tx.exec();
  }

  /** Definitions by id, `undefined` for unknown ids. */
  async getDefs(ids: string[]): Promise<Map<string, ProductDef>> {
    const unique = [...new Set(ids)];
    const found = new Map<string, ProductDef>();
    if (unique.length === 0) return found;
    const raw = await this.redis.mget(unique.map((id) => this.keys.product(id)));
    unique.forEach((id, i) => {
      const json = raw[i];
      if (json) found.set(id, JSON.parse(json) as ProductDef);
    });
    return found;
  }

  async stock(id: string): Promise<StockLevel> {
    const [available, reserved, sold, stocked] = await this.redis.hmget(
      this.keys.stock(id),
      'available',
      'reserved',
      'sold',
      'stocked',
    );
    return {
      available: Number(available ?? 0),
      reserved: Number(reserved ?? 0),
      sold: Number(sold ?? 0),
      stocked: Number(stocked ?? 0),
    };
  }

  async ids(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.productIds)).sort();
  }

  async list(): Promise<CatalogEntry[]> {
    const ids = await this.ids();
    return this.entries(ids);
  }

  async get(id: string): Promise<CatalogEntry | undefined> {
    return (await this.entries([id]))[0];
  }

  private async entries(ids: string[]): Promise<CatalogEntry[]> {
    const defs = await this.getDefs(ids);
    const known = ids.filter((id) => defs.has(id));
    const pipe = this.redis.pipeline();
    for (const id of known) pipe.hget(this.keys.stock(id), 'available');
    const replies = (await pipe.exec()) ?? [];
    return known.map((id, i) => ({ ...defs.get(id)!, available: Number(replies[i]?.[1] ?? 0) }));
  }

  /** Operator override of the units available for sale; units reserved or sold are untouched. */
  async setAvailable(id: string, available: number): Promise<boolean> {
    if (!(await this.redis.exists(this.keys.product(id)))) return false;
    await this.redis.setAvailable(this.keys.stock(id), available);
    return true;
  }
}
