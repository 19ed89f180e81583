// Coalesces concurrent calls for one key into one execution: the first caller
// starts the work, later callers of the same key share its promise until it
// settles, and the next call after that starts afresh. Used for legacy API
// requests and, at a key's primary replica, for a whole read-through
// (PostgreSQL check, legacy call, insert), so it knows nothing about either.

export class SingleFlight<K, V> {
  private readonly flights = new Map<K, Promise<V>>();

  /**
   * Runs `fn(key)` unless a call for `key` is already in flight, in which case
   * the caller joins it. Every caller of one flight sees the same value or the
   * same rejection. `fn` receives the key so callers can pass one long-lived
   * function instead of a closure per call.
   */
  do(key: K, fn: (key: K) => Promise<V>): Promise<V> {
    const running = this.flights.get(key);
    if (running !== undefined) return running;
    let started: Promise<V>;
    try {
      started = fn(key);
    } catch (err) {
      // A synchronous throw is delivered like a rejection, and nothing is
      // left in flight.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- fn's own failure, passed on unchanged
      return Promise.reject(err);
    }
    // The entry is removed before any caller's continuation runs, so a caller
    // that retries after a failure starts a new flight rather than rejoining.
    const shared = started.then(
      (value) => {
        this.flights.delete(key);
        return value;
      },
      (err: unknown) => {
        this.flights.delete(key);
        throw err;
      },
    );
    this.flights.set(key, shared);
    return shared;
  }

  /** True while a call for `key` has started and not settled. */
  inFlight(key: K): boolean {
    return this.flights.has(key);
  }

  /** Number of keys with a call in flight. */
  get size(): number {
    return this.flights.size;
  }
}
