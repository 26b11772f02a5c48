/** Runs `total` operations, `concurrency` at a time; each gets its index; resolves with their results in order. */
export async function inParallel<T>(total: number, concurrency: number, op: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        results[i] = await op(i);
      }
    }),
  );
  return results;
}
