// The replica's in-memory map: versioned entries (values and tombstones)
// under a byte budget, least-recently-used first out, with per-key TTL.
//
// The one rule that matters for correctness is in apply(): a write is stored
// only if its version is higher than the version held, so a replica never
// goes back in time (a late hint, a slow stream or a stale repair cannot
// overwrite a newer value or resurrect a deleted key). The same holds once
// the entry is gone: an entry that leaves other than by being replaced
// (eviction, expiry, drop, an oversized newer write) leaves a floor
// (floors.ts) with its version, and a write into the empty slot below the
// floor (or at it, when that version expired) is refused. Floors are bounded;
// past them a write at or below the store-wide `lostFloor` watermark is kept
// but marked `unverified`, and the coordinator asks PostgreSQL before
// believing it.
//
// CONTRACT: versions come from one sequence for all keys (PostgreSQL's, see
// DurableStore in cluster/coordinator.ts). The watermark compares versions
// of different keys, which means something only under that contract.
//
// Bytes: entries and floors share maxBytes; floors get at most
// FLOOR_SHARE of it (a fixed share, so they never crowd values out).
//
// Recency is an intrusive doubly-linked list threaded through the entries
// (head side = most recently used), beside a Map from key to entry. A get
// relinks two pointers and allocates nothing. (A Map alone, re-inserting on
// every hit, was measured too: see src/bench/ring-bench.ts and the report.)

import {
  ENTRY_OVERHEAD_BYTES,
  FLOOR_OVERHEAD_BYTES,
  VALUE_OVERHEAD_BYTES,
  entryBytes,
  floorBytes,
} from './accounting.js';
import { Slot, detach, isExpired, type Entry } from './entry.js';
import { Floors } from './floors.js';
import { linkFront, unlink } from './list.js';

export type { Entry };

export { ENTRY_OVERHEAD_BYTES, FLOOR_OVERHEAD_BYTES, VALUE_OVERHEAD_BYTES, entryBytes, floorBytes };

/** The share of maxBytes floors may use at most (the rest is for entries, and for floors while they fit). */
export const FLOOR_SHARE = 1 / 8;

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

const defaultNow = (): number => performance.now();

export class MemoryStore {
  readonly maxBytes: number;
  private readonly now: () => number;
  private readonly onEvict: ((key: string, entry: Entry) => void) | undefined;
  private readonly onExpire: ((key: string, entry: Entry) => void) | undefined;
  private readonly map = new Map<string, Slot>();
  // Sentinel of the circular recency list: head.next is the most recently
  // used entry, head.prev the least.
  private readonly head = new Slot('', null, 0, false, 0, 0, false);
  private readonly floors: Floors;
  private usedBytes = 0;
  private evicted = 0;
  private expired = 0;
  private sweepCursor: Iterator<Slot> | undefined;

  constructor(opts: MemoryStoreOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) {
      throw new RangeError(`MemoryStore: maxBytes must be a non-negative integer, got ${opts.maxBytes}`);
    }
    this.maxBytes = opts.maxBytes;
    this.floors = new Floors(Math.floor(opts.maxBytes * FLOOR_SHARE));
    this.now = opts.now ?? defaultNow;
    this.onEvict = opts.onEvict;
    this.onExpire = opts.onExpire;
  }

  /** Entries held, including expired ones not yet dropped (they still use memory). */
  get size(): number {
    return this.map.size;
  }

  /** Bytes accounted to held entries and floors; always <= maxBytes. */
  get bytes(): number {
    return this.usedBytes + this.floors.bytes;
  }

  /** Bytes accounted to floors alone; always <= maxBytes * FLOOR_SHARE. */
  get floorBytes(): number {
    return this.floors.bytes;
  }

  /** Keys the store holds a floor for (no entry, a remembered version). */
  get floorCount(): number {
    return this.floors.size;
  }

  /** Every version at or below this may have been forgotten for some key without a floor. */
  get lostFloor(): number {
    return this.floors.lost;
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
      unlink(s);
      linkFront(this.head, s);
    }
    return s;
  }

  /** The version held (live), else the key's floor; undefined when the store knows of none. */
  knownVersion(key: string): number | undefined {
    return this.peek(key)?.version ?? this.floors.get(key)?.version;
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
   * tombstone included). Into an empty slot (absent, or expired): refused
   * below the key's floor, and at it when that version expired; with no
   * floor, stored but unverified when at or below lostFloor. Returns whether
   * it was stored. A tombstone has value null; any other write has a Buffer.
   * ttlMs: 0 = never expires.
   *
   * An entry bigger than the whole budget is not stored (false); if an older
   * version of the key was held, it is evicted too, so the replica answers a
   * miss rather than a version it knows to be stale, and its version is
   * kept as the key's floor.
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
    let unverified: boolean;
    let floored = false; // a floor to delete once the write is stored
    if (held !== undefined) {
      if (version <= held.version) return false;
      unverified = held.unverified && version <= this.floors.lost;
    } else {
      const floor = this.floors.get(key);
      if (floor !== undefined && (version < floor.version || (version === floor.version && floor.expired)))
        return false;
      floored = floor !== undefined;
      unverified = !floored && version <= this.floors.lost;
    }

    const stored = value === null ? null : detach(value);
    const size = entryBytes(key, stored);
    if (size > this.maxBytes) {
      if (held !== undefined) this.evict(held);
      if (!unverified && this.floors.set(key, version, false)) this.fit(0);
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
      unlink(held);
      this.usedBytes -= held.size;
    } else if (floored) this.floors.delete(key);
    this.fit(size);
    const slot = new Slot(key, stored, version, tombstone, expiresAt, size, unverified);
    this.map.set(key, slot);
    linkFront(this.head, slot);
    this.usedBytes += size;
    return true;
  }

  /** Removes key (e.g. a key this node no longer owns), keeping its floor. True if a live entry was removed. */
  drop(key: string): boolean {
    const s = this.map.get(key);
    if (s === undefined) return false;
    if (s.expiresAt !== 0 && s.expiresAt <= this.now()) {
      this.expire(s);
      return false;
    }
    this.forget(s, false);
    return true;
  }

  /**
   * An expiry marker: version `version` of key expired (in PostgreSQL). Drops
   * what the store holds at or below that version and keeps `version` as an
   * expired floor, so neither an older value nor the same one comes back. A
   * newer held version is left alone. Nothing readable is stored: this is not
   * a delete. Returns whether anything changed.
   */
  fence(key: string, version: number): boolean {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new RangeError(`MemoryStore.fence: version must be a non-negative safe integer, got ${version}`);
    }
    const held = this.map.get(key);
    if (held !== undefined) {
      if (held.version > version && !(held.expiresAt !== 0 && isExpired(held, this.now()))) return false;
      this.expire(held);
    }
    if (!this.floors.set(key, version, true)) return held !== undefined;
    this.fit(0);
    return true;
  }

  /** Removes everything, floors included (lostFloor rises past every version held); counts neither evictions nor expirations. */
  clear(): void {
    let top = 0;
    for (const s of this.map.values()) if (s.version > top) top = s.version;
    this.floors.clear(top);
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
   * Live entries, most recently used first, without touching recency or
   * dropping anything (a peer's warm-up asks for them: warmup.ts). Must be
   * consumed synchronously: the walk follows the recency list, which any
   * get or write relinks.
   */
  *hottest(): IterableIterator<Slot> {
    const now = this.now();
    for (let s = this.head.next; s !== this.head; s = s.next) if (!isExpired(s, now)) yield s;
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

  private remove(s: Slot): void {
    unlink(s);
    this.map.delete(s.key);
    this.usedBytes -= s.size;
  }

  /**
   * Evicts least recently used entries (dropping expired ones on the way),
   * then floors once no entry is left, until `size` more bytes fit. Each
   * eviction frees more than the floor it leaves (FLOOR_OVERHEAD_BYTES <
   * ENTRY_OVERHEAD_BYTES), so this ends.
   */
  private fit(size: number): void {
    let now = -1;
    while (this.usedBytes + this.floors.bytes + size > this.maxBytes) {
      const victim = this.head.prev;
      if (victim === this.head) {
        if (!this.floors.dropOldest()) break; // unreachable while size <= maxBytes
        continue;
      }
      if (victim.expiresAt !== 0) {
        if (now < 0) now = this.now();
        if (isExpired(victim, now)) {
          this.expire(victim);
          continue;
        }
      }
      this.evict(victim);
    }
  }

  /**
   * Removes s and keeps its version as the key's floor. An unverified entry
   * leaves none: its version is at or below lostFloor, which already covers
   * it, and a floor would claim a history the store does not know.
   */
  private forget(s: Slot, expired: boolean): void {
    this.remove(s);
    if (s.unverified) return;
    // The key's bytes, from the entry's accounted size (no second UTF-8 count).
    const keyBytes =
      s.size - ENTRY_OVERHEAD_BYTES - (s.value === null ? 0 : s.value.length + VALUE_OVERHEAD_BYTES);
    this.floors.set(s.key, s.version, expired, keyBytes);
  }

  private evict(s: Slot): void {
    this.forget(s, false);
    this.evicted++;
    this.onEvict?.(s.key, s);
  }

  private expire(s: Slot): void {
    this.forget(s, true);
    this.expired++;
    this.onExpire?.(s.key, s);
  }
}
