import type { Logger } from './logger.js';

/** One thing a process closes when it stops: politely (`run`), or at once (`force`) when politeness takes too long. */
export interface ShutdownStep {
  name: string;
  run(): Promise<unknown>;
  force?(): unknown;
}

/** What a step may still take after its budget ran out and it was forced. */
const FORCED_MS = 1_000;

/**
 * Runs the steps in order within `budgetMs` in all. A step still running when the budget is spent
 * is forced (a worker drops its active jobs, which BullMQ's stall check hands to another worker;
 * a connection is cut) and logged by name, and the next steps are forced at once: a stop never
 * waits on a Redis that went away or on a job that hangs, and says which one it was.
 */
export async function shutDown(steps: ShutdownStep[], budgetMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (const step of steps) {
    const started = Date.now();
    const left = deadline - started;
    const outcome = left > 0 ? await within(step.run(), left) : 'late';
    if (outcome === 'done') continue;
    if (outcome instanceof Error) {
      log.warn({ step: step.name, err: outcome.message }, 'shutdown step failed');
    } else {
      log.warn({ step: step.name, ms: Date.now() - started }, 'shutdown step out of time; forced');
    }
    if (step.force) {
      const forced = await within(
        Promise.resolve().then(() => step.force!()),
        FORCED_MS,
      );
      if (forced !== 'done') log.warn({ step: step.name }, 'shutdown step still not closed after force');
    }
  }
}

async function within(work: Promise<unknown>, ms: number): Promise<'done' | 'late' | Error> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    return await Promise.race([
      work.then(
        () => 'done' as const,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
