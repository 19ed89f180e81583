// The shapes the PostgreSQL store takes and gives, and the contract of the
// store as the rest of the node sees it.

/** One write as the coordinator hands it over. */
export interface WriteOp {
  readonly key: string;
  /** The value; null for a tombstone. */
  readonly value: Buffer | null;
  /** A delete: stored as a versioned tombstone (value null), never as a removed row. */
  readonly tombstone: boolean;
  /** Time to live in ms, counted by PostgreSQL from its commit; 0 = no expiry. Ignored for tombstones. */
  readonly ttlMs: number;
}

/** Conditions of a write (kvring.v1 SetRequest/DeleteRequest fields). */
export interface WriteCondition {
  /** Apply only if the key's current version is this one; 0 = absent, expired or deleted. */
  readonly expectedVersion?: number;
  /** At most once per key: a retry returns the first outcome's version. */
  readonly idempotencyKey?: string;
}

/** The outcome of a conditional or idempotent write. */
export interface ConditionalResult {
  readonly version: number;
  /** True when an earlier write with the same idempotency key already applied (version is its). */
  readonly replayed: boolean;
}

/** A key as PostgreSQL holds it. */
export interface Row {
  readonly key: string;
  /** Null for a tombstone. */
  readonly value: Buffer | null;
  /** Drawn from the table's one version sequence: increasing across keys, with gaps. */
  readonly version: number;
  readonly tombstone: boolean;
  /** Remaining time to live in ms (at least 1 while live); 0 = no expiry. */
  readonly ttlMs: number;
}

/**
 * Position in the (updated_at, key) order of rows, as PostgreSQL stamped them.
 * Opaque to callers: keep the `next` of a page and pass it back.
 */
export interface ChangeCursor {
  /** updated_at of the last row seen, ISO 8601 in UTC with microseconds. */
  readonly at: string;
  readonly key: string;
}

/** The cursor before every row. */
export const START_CURSOR: ChangeCursor = Object.freeze({ at: '-infinity', key: '' });

export interface ChangePage {
  /** Changed rows, tombstones included, expired rows left out. */
  readonly rows: readonly Row[];
  /** Changed rows that had expired by the scan: key and version only (anti-entropy fences replicas with them). */
  readonly expired: ReadonlyArray<{ readonly key: string; readonly version: number }>;
  /** Where the next call resumes (equal to the given cursor when nothing new was found). */
  readonly next: ChangeCursor;
  /** True when the scan reached the end (fewer rows than `limit`). */
  readonly done: boolean;
}

/**
 * The durable, versioned store behind a node (write-through target, source of
 * truth for anti-entropy). Like etcd's API, every mutation resolves only
 * after PostgreSQL committed it: a resolved `write` means the value is
 * durable with the version given; a rejected one (PgUnavailableError) means
 * it must not be acknowledged. Versions come from one sequence and are
 * globally increasing across keys: a write that starts after another
 * write's commit gets a higher version, whatever the keys. Reads never
 * return an expired row.
 */
export interface VersionedStore {
  /** Stores the write (value or tombstone) and resolves with its version, once committed. */
  write(op: WriteOp): Promise<number>;
  /** The live row of `key` (a tombstone is a live row), or undefined when absent or expired. */
  read(key: string): Promise<Row | undefined>;
  /** Live rows of the keys that have one. */
  readMany(keys: readonly string[]): Promise<Map<string, Row>>;
  /** Versions of the live rows of the keys that have one (for anti-entropy digests). */
  versions(keys: readonly string[]): Promise<Map<string, number>>;
  /** The newest version of each key that has a row, live or not; expired: a value whose TTL passed. */
  newest(keys: readonly string[]): Promise<Map<string, { version: number; expired: boolean }>>;
  /**
   * Read-through insert of a value fetched from the legacy API: stored only
   * when the key has no live row (absent, or expired), never over a newer
   * write or over a tombstone. Resolves with the row now current: the one
   * inserted, or the one that was there first (possibly a tombstone).
   */
  hydrate(key: string, value: Buffer, ttlMs: number): Promise<Row>;
  /** Rows updated after `cursor`, oldest first, at most `limit` scanned per call. */
  changedSince(cursor: ChangeCursor, limit: number): Promise<ChangePage>;
  /** True when PostgreSQL answers and the schema is in place (readiness). Never rejects. */
  ping(): Promise<boolean>;
  /** Last known reachability of PostgreSQL, updated by every operation. */
  readonly reachable: boolean;
  /** Flushes the pending group commit, then closes the connections. Later calls are rejected. */
  close(): Promise<void>;
}
