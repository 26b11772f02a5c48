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
