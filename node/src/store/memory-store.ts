// The replica's in-memory map: versioned entries (values and tombstones)
// under a byte budget, least-recently-used first out, with per-key TTL.
//
// The one rule that matters for correctness is in apply(): a write is stored
// only if its version is higher than the version held, so a replica never
// goes back in time (a late hint, a slow stream or a stale repair cannot
// overwrite a newer value or resurrect a deleted key). Eviction and expiry
// only ever turn an entry into a miss, which sends the coordinator to
// PostgreSQL; they never bring an older version back.
//
// Recency is an intrusive doubly-linked list threaded through the entries
// (head side = most recently used), beside a Map from key to entry. A get
// relinks two pointers and allocates nothing. (A Map alone, re-inserting on
// every hit, was measured too: see src/bench/ring-bench.ts and the report.)

import { ENTRY_OVERHEAD_BYTES, VALUE_OVERHEAD_BYTES, entryBytes } from './accounting.js';

export { ENTRY_OVERHEAD_BYTES, VALUE_OVERHEAD_BYTES, entryBytes };

/**
 * What the store holds for a key. Returned objects are snapshots: a later
 * write to the key stores a new object, it never changes one handed out.
 */
export interface Entry {
  /** The value; null for a tombstone. Callers must not modify it. */
  readonly value: Buffer | null;
  /** PostgreSQL's version of the write; higher wins. */
  readonly version: number;
  /** A delete, kept (until evicted or expired) so it blocks older values. */
  readonly tombstone: boolean;
  /** When it expires, in the store's clock (ms); 0 = never. */
  readonly expiresAt: number;
}

export interface MemoryStoreOptions {
  /** The byte budget; bytes (keys + values + per-entry overhead, see accounting.ts) never exceeds it. */
  readonly maxBytes: number;
  /**
   * The clock, in ms, non-negative and non-decreasing. Default: performance.now()
   * (monotonic, so a wall-clock step cannot expire or revive entries).
   */
  readonly now?: () => number;
  /** Called after an entry was evicted to make room. Must not throw or call into the store. */
  readonly onEvict?: (key: string, entry: Entry) => void;
  /** Called after an expired entry was dropped. Must not throw or call into the store. */
  readonly onExpire?: (key: string, entry: Entry) => void;
}

/** An entry plus its place in the recency list and its accounted size. */
class Slot implements Entry {
  prev: Slot = this;
  next: Slot = this;
  constructor(
    readonly key: string,
    readonly value: Buffer | null,
    readonly version: number,
    readonly tombstone: boolean,
    readonly expiresAt: number,
    readonly size: number,
  ) {}
}

const defaultNow = (): number => performance.now();

// A value that is a small view into a much larger ArrayBuffer (a field
// decoded out of a gRPC frame carrying a whole batch, say) would keep the
// whole frame alive while being accounted at its own length. Such values are
// copied; ordinary buffers, including slices of Node's 8 KiB allocation
// pool, are kept as they are.
function detach(value: Buffer): Buffer {
  const backing = value.buffer.byteLength;
  return backing > Buffer.poolSize && backing > 2 * value.length ? Buffer.from(value) : value;
}

function isExpired(s: Slot, now: number): boolean {
  return s.expiresAt !== 0 && s.expiresAt <= now;
}

export class MemoryStore {
  readonly maxBytes: number;
  private readonly now: () => number;
  private readonly onEvict: ((key: string, entry: Entry) => void) | undefined;
  private readonly onExpire: ((key: string, entry: Entry) => void) | undefined;
  private readonly map = new Map<string, Slot>();
  // Sentinel of the circular recency list: head.next is the most recently
  // used entry, head.prev the least.
  private readonly head = new Slot('', null, 0, false, 0, 0);
  private usedBytes = 0;
  private evicted = 0;
  private expired = 0;
  private sweepCursor: Iterator<Slot> | undefined;

  constructor(opts: MemoryStoreOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) {
      throw new RangeError(`MemoryStore: maxBytes must be a non-negative integer, got ${opts.maxBytes}`);
    }
    this.maxBytes = opts.maxBytes;
    this.now = opts.now ?? defaultNow;
    this.onEvict = opts.onEvict;
    this.onExpire = opts.onExpire;
  }

  /** Entries held, including expired ones not yet dropped (they still use memory). */
  get size(): number {
    return this.map.size;
  }

  /** Bytes accounted to held entries; always <= maxBytes. */
  get bytes(): number {
    return this.usedBytes;
  }

  /** Entries evicted to make room (LRU, or a held version dropped for an oversized newer one). */
  get evictions(): number {
    return this.evicted;
  }

  /** Entries dropped because their TTL passed (on access, eviction, iteration or sweep). */
  get expirations(): number {
    return this.expired;
  }

  /** The live entry for key, marked most recently used; undefined if absent or expired. */
  get(key: string): Entry | undefined {
    const s = this.map.get(key);
    if (s === undefined) return undefined;
    if (s.expiresAt !== 0 && s.expiresAt <= this.now()) {
      this.expire(s);
      return undefined;
    }
    if (this.head.next !== s) {
      this.unlink(s);
      this.linkFront(s);
    }
    return s;
  }

  /** Like get, without touching recency. */
  peek(key: string): Entry | undefined {
    const s = this.map.get(key);
    if (s === undefined) return undefined;
    if (s.expiresAt !== 0 && s.expiresAt <= this.now()) {
      this.expire(s);
      return undefined;
    }
    return s;
  }

  /**
   * Stores a write if its version is higher than the one held (a held
   * tombstone included; an expired entry counts as absent). Returns whether
   * it was stored. A tombstone has value null; any other write has a Buffer.
   * ttlMs: 0 = never expires.
   *
   * An entry bigger than the whole budget is not stored (false); if an older
   * version of the key was held, it is evicted too, so the replica answers a
   * miss rather than a version it knows to be stale.
   *
   * The stored value may be a copy of `value` (see detach); either way the
   * caller must not modify `value` afterwards.
   */
  apply(key: string, value: Buffer | null, version: number, tombstone: boolean, ttlMs: number): boolean {
    if (typeof key !== 'string') throw new TypeError('MemoryStore.apply: key must be a string');
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new RangeError(`MemoryStore.apply: version must be a non-negative safe integer, got ${version}`);
    }
    if (tombstone ? value !== null : !Buffer.isBuffer(value)) {
      throw new TypeError('MemoryStore.apply: a tombstone has a null value, any other write a Buffer');
    }
    if (!(ttlMs >= 0) || !Number.isFinite(ttlMs)) {
      throw new RangeError(`MemoryStore.apply: ttlMs must be a finite number >= 0, got ${ttlMs}`);
    }

    let held = this.map.get(key);
    let now = -1; // read the clock only when an expiry is involved
    if (held !== undefined && held.expiresAt !== 0) {
      now = this.now();
      if (isExpired(held, now)) {
        this.expire(held);
        held = undefined;
      }
    }
    if (held !== undefined && version <= held.version) return false;

    const stored = value === null ? null : detach(value);
    const size = entryBytes(key, stored);
    if (size > this.maxBytes) {
      if (held !== undefined) this.evict(held);
      return false;
    }
    let expiresAt = 0;
    if (ttlMs > 0) {
      if (now < 0) now = this.now();
      expiresAt = now + ttlMs;
    }

    if (held !== undefined) {
      // Replaced, not evicted: leave the Map slot where it is (set below
      // overwrites it in place) and only take it out of the accounting.
      this.unlink(held);
      this.usedBytes -= held.size;
    }
    while (this.usedBytes + size > this.maxBytes) {
      const victim = this.head.prev;
      if (victim === this.head) break; // empty; unreachable since size <= maxBytes
      if (victim.expiresAt !== 0) {
        if (now < 0) now = this.now();
        if (isExpired(victim, now)) {
          this.expire(victim);
          continue;
        }
      }
      this.evict(victim);
    }
    const slot = new Slot(key, stored, version, tombstone, expiresAt, size);
    this.map.set(key, slot);
    this.linkFront(slot);
    this.usedBytes += size;
    return true;
  }

  /** Removes key (e.g. a key this node no longer owns). True if a live entry was removed. */
  drop(key: string): boolean {
    const s = this.map.get(key);
    if (s === undefined) return false;
    if (s.expiresAt !== 0 && s.expiresAt <= this.now()) {
      this.expire(s);
      return false;
    }
    this.remove(s);
    return true;
  }

  /** Removes everything; counts neither evictions nor expirations. */
  clear(): void {
    this.map.clear();
    this.head.next = this.head;
    this.head.prev = this.head;
    this.usedBytes = 0;
    this.sweepCursor = undefined;
  }

  /**
   * Live entries, in no particular order, without touching recency. Expired
   * entries met on the way are dropped. Safe to use across awaits and while
   * the store changes (drop() inside the loop included): an entry removed
   * before it is reached is skipped, one added meanwhile may or may not be seen.
   */
  *entries(): IterableIterator<[string, Entry]> {
    for (const s of this.map.values()) {
      if (s.expiresAt !== 0 && s.expiresAt <= this.now()) {
        this.expire(s);
        continue;
      }
      yield [s.key, s];
    }
  }

  /**
   * Drops expired entries, examining at most `limit` of them, and resumes
   * where the previous call stopped (a full pass then starts over). Lazy
   * expiry on access already keeps expired entries from being returned; this
   * returns their memory sooner. The store runs no timer of its own: the
   * node may call this periodically. Returns how many were dropped.
   */
  sweep(limit = 1000): number {
    let dropped = 0;
    const now = this.now();
    for (let i = 0; i < limit; i++) {
      this.sweepCursor ??= this.map.values();
      const r = this.sweepCursor.next();
      if (r.done === true) {
        this.sweepCursor = undefined;
        break;
      }
      const s = r.value;
      if (isExpired(s, now)) {
        this.expire(s);
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * Milliseconds left before entry expires, for handing it to another node:
   * 0 = never expires; otherwise at least 1, so a nearly expired entry is
   * never turned into one that never expires.
   */
  ttlRemainingMs(entry: Entry): number {
    if (entry.expiresAt === 0) return 0;
    return Math.max(1, Math.ceil(entry.expiresAt - this.now()));
  }

  private linkFront(s: Slot): void {
    const first = this.head.next;
    s.prev = this.head;
    s.next = first;
    first.prev = s;
    this.head.next = s;
  }

  private unlink(s: Slot): void {
    s.prev.next = s.next;
    s.next.prev = s.prev;
    s.prev = s;
    s.next = s;
  }

  private remove(s: Slot): void {
    this.unlink(s);
    this.map.delete(s.key);
    this.usedBytes -= s.size;
  }

  private evict(s: Slot): void {
    this.remove(s);
    this.evicted++;
    this.onEvict?.(s.key, s);
  }

  private expire(s: Slot): void {
    this.remove(s);
    this.expired++;
    this.onExpire?.(s.key, s);
  }
}
