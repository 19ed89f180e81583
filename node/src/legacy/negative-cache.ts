// Remembers for a short while that the legacy API answered 404 for a key, so
// a burst of reads of a key nobody has costs one request, not one each.
// Bounded in entries: every entry lives the same TTL, so insertion order is
// expiry order and the oldest entry is the one to drop when full.

export const DEFAULT_NEGATIVE_MAX_ENTRIES = 10_000;

export class NegativeCache {
  /** key -> time (per `now`) at which the entry stops counting. */
  private readonly expiries = new Map<string, number>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries: number = DEFAULT_NEGATIVE_MAX_ENTRIES,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`ttlMs must be >= 0, got ${ttlMs}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`maxEntries must be an integer >= 0, got ${maxEntries}`);
    }
  }

  /** A TTL or a bound of 0 turns the cache off. */
  get enabled(): boolean {
    return this.ttlMs > 0 && this.maxEntries > 0;
  }

  get size(): number {
    return this.expiries.size;
  }

  /** True while a "not found" for `key` is remembered. */
  has(key: string): boolean {
    const expiry = this.expiries.get(key);
    if (expiry === undefined) return false;
    if (this.now() < expiry) return true;
    this.expiries.delete(key);
    return false;
  }

  add(key: string): void {
    if (!this.enabled) return;
    // Re-adding moves the key to the back, keeping the map in expiry order.
    this.expiries.delete(key);
    this.expiries.set(key, this.now() + this.ttlMs);
    this.trim();
  }

  /** Forgets `key`, e.g. after learning it now exists. */
  delete(key: string): void {
    this.expiries.delete(key);
  }

  clear(): void {
    this.expiries.clear();
  }

  private trim(): void {
    const now = this.now();
    // Drop expired entries from the front, then the oldest while over bound;
    // each step removes one entry, so this ends within size steps.
    for (const [key, expiry] of this.expiries) {
      if (expiry > now && this.expiries.size <= this.maxEntries) break;
      this.expiries.delete(key);
    }
  }
}
