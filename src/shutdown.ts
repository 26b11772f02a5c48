import type { Logger } from './logger.js';
import { within } from './within.js';

/** One thing a process closes when it stops: politely (`run`), or at once (`force`) when politeness takes too long. */
export interface ShutdownStep {
  name: string;
  run(): Promise<unknown>;
  force?(): unknown;
}

/** What a step may still take after its budget ran out and it was forced. */
const FORCED_MS = 1_000;

/**
 * Runs the steps in order within `budgetMs` in all. A step that fails, or is still running when
 * the budget is spent, is forced (a connection is cut, a server's sockets closed) and logged by
 * name, and the steps after it are forced at once: a stop never waits on a Redis that went away
 * or on a job that hangs, and says which one it was.
 */
export async function shutDown(steps: ShutdownStep[], budgetMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (const step of steps) {
    const started = Date.now();
    const left = deadline - started;
    const outcome = left > 0 ? await within(step.run(), left) : 'late';
    if (outcome === 'late')
      log.warn({ step: step.name, ms: Date.now() - started }, 'shutdown step out of time; forced');
    else if ('error' in outcome) log.warn({ step: step.name, err: outcome.error.message }, 'shutdown step failed');
    else continue;
    if (step.force) {
      const forced = await within(
        Promise.resolve().then(() => step.force!()),
        FORCED_MS,
      );
      if (forced === 'late' || 'error' in forced)
        log.warn({ step: step.name }, 'shutdown step still not closed after force');
    }
  }
}
