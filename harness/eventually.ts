/**
 * The one poller of the tests and the harness: runs `check` every `interval` ms until it returns a
 * truthy value, which it resolves with. A check that throws (an `expect` not yet met, a node not
 * yet up) is tried again. Past `timeout` it fails naming `what`, with the last error as its cause.
 * Plain Node, no vitest: the bench starts its Redis Cluster with it too.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeout = 10_000, interval = 50 }: { timeout?: number; interval?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
