/**
 * How `work` settled within `ms`: its value, the error it failed with, or `'late'` (it keeps
 * running; nobody waits for it). For calls that must not hang their caller on a Redis that
 * went away: a metrics scrape, a shutdown step.
 */
export async function within<T>(work: Promise<T>, ms: number): Promise<{ value: T } | { error: Error } | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    return await Promise.race([
      work.then(
        (value) => ({ value }),
        (err: unknown) => ({ error: err instanceof Error ? err : new Error(String(err)) }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `work`'s value if it succeeds within `ms`, else undefined. */
export async function valueWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  const outcome = await within(work, ms);
  return outcome !== 'late' && 'value' in outcome ? outcome.value : undefined;
}
