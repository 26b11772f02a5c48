import { bulkhead } from 'cockatiel';

/** A unit and the units it is built on: they are provisioned before it and removed after it. */
export interface UnitTree<U> {
  unit: U;
  dependencies: U[];
}

/** A unit whose action failed, and why. */
export interface UnitFailure<U> {
  unit: U;
  error: unknown;
}

/**
 * What acting on a unit came to: done (void or true), or not yet (false: under way elsewhere, as a
 * partner's asynchronous provisioning; the units built on it wait for a later run).
 */
export type Act<U> = (unit: U) => Promise<boolean | void>;

/**
 * Runs `act` on a unit in one of `limit` slots, answering whether it is done; a failure is kept in
 * `failures`. `haltOnFailure`: once one failed, units not yet started are passed over.
 */
function slotted<U>(limit: number, act: Act<U>, failures: UnitFailure<U>[], haltOnFailure: boolean) {
  const slots = bulkhead(limit, Infinity);
  return (unit: U) =>
    slots.execute(async () => {
      if (haltOnFailure && failures.length > 0) return false;
      try {
        return (await act(unit)) !== false;
      } catch (error) {
        failures.push({ unit, error });
        return false;
      }
    });
}

/**
 * Acts on every tree, its dependencies side by side and then its unit (once they are all done), the
 * trees side by side, at most `limit` acts at once. After a failure nothing new starts, but what is under way is waited for: no
 * call may still be in flight when the step gives up and its undo starts. Throws the first failure.
 */
export async function buildUp<U>(trees: UnitTree<U>[], act: Act<U>, limit: number) {
  const failures: UnitFailure<U>[] = [];
  const run = slotted(limit, act, failures, true);
  await Promise.all(
    trees.map(async (tree) => {
      if ((await Promise.all(tree.dependencies.map(run))).every(Boolean)) await run(tree.unit);
    }),
  );
  if (failures[0]) throw failures[0].error;
}

/**
 * Undoes every tree, its unit first and then, once that is gone, its dependencies side by side; the
 * trees side by side, at most `limit` at once. A unit that stays keeps the dependencies it was built
 * on; everything else still goes. Answers every failure, for the caller to report together.
 */
export async function tearDown<U>(trees: UnitTree<U>[], act: Act<U>, limit: number): Promise<UnitFailure<U>[]> {
  const failures: UnitFailure<U>[] = [];
  const run = slotted(limit, act, failures, false);
  await Promise.all(
    trees.map(async (tree) => {
      if (await run(tree.unit)) await Promise.all(tree.dependencies.map(run));
    }),
  );
  return failures;
}
