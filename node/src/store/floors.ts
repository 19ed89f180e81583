// What the memory store remembers of entries that left it other than by
// being replaced with a newer version (LRU eviction, TTL expiry, drop, an
// oversized newer write): the key's last version, and whether that version
// expired. A write arriving later into the empty slot is judged against it,
// so a late hint, frame, stream or anti-entropy row older than what the
// replica once held is refused instead of served as current.
//
// The table is bounded (a byte cap, least recently set first out). A floor
// dropped for room raises one store-wide watermark, `lost`: every version
// at or below it may have been forgotten for some key, so a write at or
// below it into a slot without a floor is stored but marked unverified.
// This works only because PostgreSQL assigns versions from one sequence for
// all keys (see DurableStore in cluster/coordinator.ts): a watermark over
// versions means the same thing for every key.
import { FLOOR_OVERHEAD_BYTES, floorBytes } from './accounting.js';
import { linkFront, unlink } from './list.js';

export interface Floor {
  /** The newest version the store held (or was told of) and let go. */
  readonly version: number;
  /** That version expired: the same version must not come back either. */
  readonly expired: boolean;
}

/** A floor in the table: a node of the circular list (head side = most recently set). */
class Node implements Floor {
  prev: Node = this;
  next: Node = this;
  constructor(
    readonly key: string,
    public version: number,
    public expired: boolean,
    readonly size: number,
  ) {}
}

export class Floors {
  // Eviction order is kept by an intrusive list, not by Map order: taking the
  // first entry of a Map that has had many deletions walks over their holes.
  private readonly map = new Map<string, Node>();
  private readonly head = new Node('', 0, false, 0);
  private used = 0;
  private lostVersion = 0;

  /** capBytes: the floors' share of the store's budget. */
  constructor(readonly capBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.map.size;
  }

  /** Every version at or below this may have been forgotten for a key without a floor. */
  get lost(): number {
    return this.lostVersion;
  }

  get(key: string): Floor | undefined {
    return this.map.get(key);
  }

  /**
   * Remembers that `key` let `version` go (expired: it expired). An existing
   * higher floor is kept; an equal one keeps its expired mark. May drop the
   * oldest floors to stay within the cap. Returns whether the floor changed.
   * keyBytes: the key's UTF-8 length, when the caller knows it.
   */
  set(key: string, version: number, expired: boolean, keyBytes = -1): boolean {
    const prev = this.map.get(key);
    if (prev !== undefined) {
      if (prev.version > version || (prev.version === version && (prev.expired || !expired))) return false;
      prev.version = version;
      prev.expired = expired;
      unlink(prev);
      linkFront(this.head, prev);
      return true;
    }
    const size = keyBytes < 0 ? floorBytes(key) : keyBytes + FLOOR_OVERHEAD_BYTES;
    if (size > this.capBytes) {
      this.raise(version);
      return true;
    }
    while (this.used + size > this.capBytes && this.dropOldest());
    const node = new Node(key, version, expired, size);
    this.map.set(key, node);
    linkFront(this.head, node);
    this.used += size;
    return true;
  }

  delete(key: string): void {
    const f = this.map.get(key);
    if (f !== undefined) this.remove(f);
  }

  /** Drops the least recently set floor, raising the watermark. False when there is none. */
  dropOldest(): boolean {
    const f = this.head.prev;
    if (f === this.head) return false;
    this.remove(f);
    this.raise(f.version);
    return true;
  }

  /** Forgets every floor, and with them every version up to `upTo`. */
  clear(upTo: number): void {
    for (const f of this.map.values()) this.raise(f.version);
    this.raise(upTo);
    this.map.clear();
    this.head.next = this.head;
    this.head.prev = this.head;
    this.used = 0;
  }

  private remove(f: Node): void {
    unlink(f);
    this.map.delete(f.key);
    this.used -= f.size;
  }

  private raise(version: number): void {
    if (version > this.lostVersion) this.lostVersion = version;
  }
}
