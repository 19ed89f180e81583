// An entry of the memory store, as handed out (Entry) and as held (Slot:
// the entry plus its place in the recency list and its accounted size).

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
  /**
   * Stored into an empty slot whose history the store had forgotten (no
   * floor, version at or below lostFloor): it may be older than a version
   * this replica once held, so it must not be served without PostgreSQL.
   */
  readonly unverified: boolean;
}

/** An entry plus its place in the recency list and its accounted size. */
export class Slot implements Entry {
  prev: Slot = this;
  next: Slot = this;
  constructor(
    readonly key: string,
    readonly value: Buffer | null,
    readonly version: number,
    readonly tombstone: boolean,
    readonly expiresAt: number,
    readonly size: number,
    readonly unverified: boolean,
  ) {}
}

// A value that is a small view into a much larger ArrayBuffer (a field
// decoded out of a gRPC frame carrying a whole batch, say) would keep the
// whole frame alive while being accounted at its own length. Such values are
// copied; ordinary buffers, including slices of Node's 8 KiB allocation
// pool, are kept as they are.
export function detach(value: Buffer): Buffer {
  const backing = value.buffer.byteLength;
  return backing > Buffer.poolSize && backing > 2 * value.length ? Buffer.from(value) : value;
}

export function isExpired(s: Slot, now: number): boolean {
  return s.expiresAt !== 0 && s.expiresAt <= now;
}
