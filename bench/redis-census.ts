import type { Redis } from 'ioredis';

/** Keys and bytes (MEMORY USAGE) per kind of key. */
export type Census = Record<string, { keys: number; bytes: number }>;

/**
 * The kind of a key: its prefix's parts without the ids. `bsys:purchase:<id>` is
 * `purchase`; BullMQ's `bsys:q:<queue>:<job id>` is `q:<queue>:job`, its
 * `bsys:q:<queue>:completed` is `q:<queue>:completed`.
 */
export function kindOf(key: string, prefix: string): string {
  const parts = key.slice(prefix.length + 1).split(':');
  if (parts[0] !== 'q') return parts[0]!;
  const [, queue, name = ''] = parts;
  // BullMQ job ids here are `${purchaseId}-${stage}` or counters: anything with a digit.
  return `q:${queue}:${/\d/.test(name) ? (parts.length > 3 ? `job:${parts[3]}` : 'job') : name}`;
}

/** Every key under `prefix`, grouped by kind, with its memory. */
export async function census(redis: Redis, prefix: string): Promise<Census> {
  const out: Census = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
    const sizes = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const kind = kindOf(key, prefix);
      const entry = (out[kind] ??= { keys: 0, bytes: 0 });
      entry.keys++;
      entry.bytes += Number(sizes[i]?.[1] ?? 0);
    });
  } while (cursor !== '0');
  return out;
}

/** What grew between two censuses, biggest first (kinds that shrank included, negative). */
export function growth(before: Census, after: Census) {
  const kinds = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...kinds]
    .map((kind) => ({
      kind,
      keys: (after[kind]?.keys ?? 0) - (before[kind]?.keys ?? 0),
      bytes: (after[kind]?.bytes ?? 0) - (before[kind]?.bytes ?? 0),
    }))
    .filter((g) => g.keys !== 0 || g.bytes !== 0)
    .sort((a, b) => b.bytes - a.bytes);
}

export const totalBytes = (c: Census) => Object.values(c).reduce((s, e) => s + e.bytes, 0);
