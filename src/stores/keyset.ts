import type { RedisClient } from '../redis.js';

/** A place in a per-customer index: the creation-time score and id of the last item a page returned. */
export interface IndexPosition {
  score: number;
  id: string;
}

export interface IndexPage<T> {
  items: T[];
  /** Where the next page starts; absent on the last page. */
  next?: IndexPosition;
}

/** Loads the documents of `ids`, in order; `undefined` for one that is gone (expired). */
export type LoadMany<T> = (ids: string[]) => Promise<(T | undefined)[]>;

/**
 * One page of a sorted-set index scored by creation time, newest first (ties in Redis' order:
 * id descending). Only entries after `after` in that order are read, under a score bound, so
 * entries added meanwhile (newer) can neither repeat nor push out an older one. An entry whose
 * document has expired is passed over and the page filled from further down: no holes, and a
 * short page only at the end.
 */
export async function pageIndex<T>(
  redis: RedisClient,
  key: string,
  after: IndexPosition | undefined,
  limit: number,
  load: LoadMany<T>,
): Promise<IndexPage<T>> {
  return pageOf(await collect(redis, key, after, limit + 1, load), limit);
}

/**
 * pageIndex over several indexes of the same kind (one per shard), merged in the same order:
 * the newest `limit` after `after` over all of them are among each one's newest `limit + 1`.
 */
export async function pageIndexes<T>(
  redis: RedisClient,
  keys: readonly string[],
  after: IndexPosition | undefined,
  limit: number,
  load: LoadMany<T>,
): Promise<IndexPage<T>> {
  const each = await Promise.all(keys.map((key) => collect(redis, key, after, limit + 1, load)));
  return pageOf(
    each.flat().sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)),
    limit,
  );
}

type Found<T> = { score: number; id: string; doc: T };

function pageOf<T>(found: Found<T>[], limit: number): IndexPage<T> {
  const items = found.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map((f) => f.doc),
    ...(found.length > limit && last ? { next: { score: last.score, id: last.id } } : {}),
  };
}

/** The first `want` entries of one index after `after` whose documents still exist. */
async function collect<T>(
  redis: RedisClient,
  key: string,
  after: IndexPosition | undefined,
  want: number,
  load: LoadMany<T>,
): Promise<Found<T>[]> {
  const found: Found<T>[] = [];
  const seen = new Set<string>();
  const max = after ? String(after.score) : '+inf';
  for (let offset = 0; ;) {
    const batch = want - found.length + 8;
    const raw = await redis.zrange(key, max, '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, batch, 'WITHSCORES');
    offset += raw.length / 2;
    const entries: { score: number; id: string }[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const id = raw[i]!;
      const score = Number(raw[i + 1]);
      // The cursor's own score: entries up to and including the cursor's id came on earlier pages.
      // (Redis orders equal scores by bytes; ids are ASCII, so JS comparison agrees.)
      if (after && score === after.score && id >= after.id) continue;
      if (seen.has(id)) continue;
      seen.add(id);
      entries.push({ score, id });
    }
    const docs = entries.length > 0 ? await load(entries.map((e) => e.id)) : [];
    entries.forEach((e, i) => {
      const doc = docs[i];
      if (doc !== undefined && found.length < want) found.push({ ...e, doc });
    });
    if (found.length >= want || raw.length / 2 < batch) return found;
  }
}
