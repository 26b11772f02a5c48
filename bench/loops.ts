/** The bench's load shapes: a closed loop (as fast as N clients go) and a paced one (a set rate). */

export interface LoopRun {
  latencies: number[];
  errors: number;
  seconds: number;
}

type Op = (worker: number, i: number) => Promise<boolean>;

/** N workers in a closed loop for `seconds`: each starts its next op when the last one ends. */
export async function closedLoop(n: number, seconds: number, op: Op): Promise<LoopRun> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const ok = await op(w, i).catch(() => false);
        if (ok) latencies.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

/**
 * Ops started at `perSecond` for `seconds` (an open loop), at most `n` at a time: the load a
 * slower system reached, offered to a faster one, so both are measured doing the same work per second.
 */
export async function pacedLoop(n: number, seconds: number, perSecond: number, op: Op): Promise<LoopRun> {
  const latencies: number[] = [];
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const until = started + seconds * 1000;
  for (let i = 0; ; i++) {
    const at = started + (1000 * i) / perSecond;
    if (at >= until) break;
    if (at > performance.now()) await new Promise((r) => setTimeout(r, at - performance.now()));
    while (inFlight.size >= n) await Promise.race(inFlight);
    const t = performance.now();
    const run: Promise<void> = op(i % n, i)
      .catch(() => false)
      .then((ok) => {
        if (ok) latencies.push(performance.now() - t);
        else errors++;
        inFlight.delete(run);
      });
    inFlight.add(run);
  }
  await Promise.all(inFlight);
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

/**
 * Closed loops of `n` clients on each op in turn: a warm-up each (unmeasured), then `rounds` rounds of
 * `seconds / rounds` each, so a shared machine's drift falls on every side of a ratio. Per op: purchases
 * per measured second, p99 and errors.
 */
export async function takingTurns(
  n: number,
  ops: readonly Op[],
  opts: { seconds: number; rounds: number; warmupS: number },
): Promise<{ perSecond: number; p99: number; errors: number }[]> {
  for (const op of ops) if (opts.warmupS > 0) await closedLoop(n, opts.warmupS, (w, i) => op(w, 10_000_000 + i));
  const acc = ops.map(() => ({ latencies: [] as number[], seconds: 0, errors: 0 }));
  for (let round = 0; round < opts.rounds; round++)
    for (const [k, op] of ops.entries()) {
      const run = await closedLoop(n, opts.seconds / opts.rounds, (w, i) => op(w, round * 1_000_000 + i));
      acc[k]!.latencies.push(...run.latencies);
      acc[k]!.seconds += run.seconds;
      acc[k]!.errors += run.errors;
    }
  return acc.map((a) => {
    const sorted = a.latencies.sort((x, y) => x - y);
    return {
      perSecond: a.latencies.length / a.seconds,
      p99: sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0,
      errors: a.errors,
    };
  });
}
