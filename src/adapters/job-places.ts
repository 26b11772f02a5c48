import { bulkhead, BulkheadRejectedError } from 'cockatiel';

interface Place {
  entered: Promise<void>;
  calls: number;
  leave(): void;
}

/**
 * At most `capacity` jobs at once, each holding one place for as long as it has a call under way; the
 * calls of one job share its place. A job that finds every place taken waits, at most `waitMs` and
 * behind at most `capacity` others, then is refused (cockatiel's BulkheadRejectedError). A waiter that
 * gave up keeps its spot in line until a place frees: while no place frees, later jobs are refused at
 * once. `enter` answers the function that gives the call's share back.
 */
export function jobPlaces(capacity: number, waitMs: number) {
  const slots = bulkhead(capacity, capacity);
  const held = new Map<string, Place>();

  function take(job: string): Place {
    let leave!: () => void;
    const left = new Promise<void>((resolve) => (leave = resolve));
    const gaveUp = new AbortController();
    const entered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        gaveUp.abort();
        reject(new BulkheadRejectedError(capacity, capacity));
      }, waitMs);
      // The bulkhead runs this once a slot is free, at once if one is: the slot is held until `left`.
      slots
        .execute(() => {
          clearTimeout(timer);
          resolve();
          return left;
        }, gaveUp.signal)
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err);
        });
    });
    const place: Place = { entered, calls: 0, leave };
    entered.catch(() => {
      if (held.get(job) === place) held.delete(job);
    });
    held.set(job, place);
    return place;
  }

  return {
    async enter(job: string): Promise<() => void> {
      const place = held.get(job) ?? take(job);
      place.calls++;
      try {
        await place.entered;
      } catch (err) {
        place.calls--;
        throw err;
      }
      let given = false;
      return () => {
        if (given) return;
        given = true;
        if (--place.calls > 0) return;
        if (held.get(job) === place) held.delete(job);
        place.leave();
      };
    },
  };
}
