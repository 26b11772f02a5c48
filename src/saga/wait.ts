import type { RecordFields } from '../purchase/record.js';

/**
 * Thrown by a step that waits for the outside world (the customer's payment action, a partner's
 * callback): the runner records the step `waiting` until `until`, with `fields`, and parks its job
 * in BullMQ's delayed set, holding no worker. The job wakes at the deadline, at the next check
 * (WAIT_CHECK_MS: the step asks by itself, so a lost webhook only delays it) or when something
 * promotes it (wakeStep); the step then runs again from the top and asks the outside world where
 * things stand. Parking uses no attempt.
 */
export class WaitFor extends Error {
  override name = 'WaitFor';
  constructor(
    /** Epoch ms: the step must be decided by then. */
    readonly until: number,
    readonly fields: RecordFields = {},
  ) {
    super(`waiting until ${new Date(until).toISOString()}`);
  }
}

/**
 * Thrown by an undo whose work could not start (an outside service refused the call before it was
 * sent: its circuit is open, its places are taken): the job is moved to `at`, holding no worker,
 * and spends no attempt. Only calls that were made count against an undo's attempts, so an outage
 * longer than its retries does not put the purchase in review by itself.
 */
export class TryAgainAt extends Error {
  override name = 'TryAgainAt';
  constructor(
    /** Epoch ms. */
    readonly at: number,
    reason: string,
  ) {
    super(reason);
  }
}
