// Remembers for a short while that the legacy API answered 404 for a key, so
// a burst of reads of a key nobody has costs one request, not one each.
// lru-cache (maintained, the npm ecosystem's common LRU; BlueOak-1.0.0, a
// permissive licence) keeps the entries with their TTL and the bound: every
// entry lives the same TTL and `has` does not refresh recency, so the least
// recently added entry, the one evicted when full, is also the first to
// expire.
import { LRUCache } from 'lru-cache';

export const DEFAULT_NEGATIVE_MAX_ENTRIES = 10_000;

/** key -> true while a "not found" for the key is remembered. */
export type NegativeCache = LRUCache<string, true>;

/**
 * A negative cache of `maxEntries` keys remembered for `ttlMs` each (an
 * entry still counts at exactly ttlMs, and not after). A TTL or a bound of 0
 * turns it off: undefined. `now` is the clock in ms (default performance.now).
 */
export function negativeCache(
  ttlMs: number,
  maxEntries: number = DEFAULT_NEGATIVE_MAX_ENTRIES,
  now?: () => number,
): NegativeCache | undefined {
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`ttlMs must be >= 0, got ${ttlMs}`);
  if (!Number.isInteger(maxEntries) || maxEntries < 0) {
    throw new RangeError(`maxEntries must be an integer >= 0, got ${maxEntries}`);
  }
  if (ttlMs === 0 || maxEntries === 0) return undefined;
  return new LRUCache<string, true>({
    max: maxEntries,
    // lru-cache wants whole milliseconds; a fraction is below any clock's say.
    ttl: Math.ceil(ttlMs),
    // Read the clock on every check instead of caching it for 1 ms with a
    // timer: one clock read per lookup is nothing next to an HTTP request.
    ttlResolution: 0,
    ...(now === undefined ? {} : { perf: { now } }),
  });
}
