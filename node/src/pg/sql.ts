// The statements of the store, for one (quoted) table. Every timestamp and
// every expiry is computed by PostgreSQL (now()), never by a node's clock.
import { createHash } from 'node:crypto';

/** Remaining TTL in ms (at least 1 while live), 0 when the row has no expiry. */
const TTL_MS = `CASE WHEN expires_at IS NULL THEN 0
  ELSE greatest(1, ceil(extract(epoch FROM (expires_at - now())) * 1000))::bigint END`;
const LIVE = `(expires_at IS NULL OR expires_at > now())`;
const ROW = `key, value, version, tombstone, ${TTL_MS} AS ttl_ms`;

export interface RowRecord {
  key: string;
  value: Buffer | null;
  version: string;
  tombstone: boolean;
  ttl_ms: string;
}

export interface ChangedRecord extends RowRecord {
  expired: boolean;
  cursor_at: string;
}

/**
 * The version of an update, evaluated in ON CONFLICT DO UPDATE, that is
 * after the conflicting row is locked: a write that waited for another
 * write of the same key draws from the sequence after that one committed,
 * so it gets the higher version. greatest() keeps a key's versions rising
 * even over a row whose version did not come from the sequence (a node of a
 * release with per-key counters during a rolling upgrade; a sequence set
 * back by hand).
 */
const NEXT_ON_CONFLICT = (seq: string) => `greatest(nextval('${seq}'::regclass), t.version + 1)`;

const EXPIRES = (ttl: string) =>
  `CASE WHEN ${ttl}::bigint > 0 THEN now() + ${ttl}::bigint * interval '1 millisecond' END`;

/**
 * `t` is the quoted table, `seq` the quoted version sequence (migration 4),
 * `idem` the quoted idempotency table (migration 5), `purged` the quoted
 * purge watermark (migration 6).
 */
export function statements(t: string, seq: string, idem: string, purged: string) {
  const next = NEXT_ON_CONFLICT(seq);
  return {
    /**
     * Conditional write of one key ($1 key, $2 value, $3 tombstone, $4 TTL
     * ms) over a live value row at version $5. UPDATE locks the row and
     * rechecks the condition on the row as committed, so it is a
     * compare-and-set; no row comes back when the condition fails.
     */
    casUpdate: `UPDATE ${t} AS t SET value = $2, version = ${next}, tombstone = $3,
             expires_at = ${EXPIRES('$4')}, updated_at = now()
       WHERE key = $1 AND version = $5 AND NOT tombstone AND ${LIVE}
      RETURNING version`,

    /** Conditional write that expects the key absent, expired or deleted (expected version 0). */
    casAbsent: `INSERT INTO ${t} AS t (key, value, version, tombstone, expires_at, created_at, updated_at)
      VALUES ($1, $2, nextval('${seq}'::regclass), $3, ${EXPIRES('$4')}, now(), now())
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = ${next},
             tombstone = EXCLUDED.tombstone, expires_at = EXCLUDED.expires_at, updated_at = now()
       WHERE t.tombstone OR NOT ${LIVE.replaceAll('expires_at', 't.expires_at')}
      RETURNING version`,

    /** Claims idempotency key $1 for data key $2; nothing back when it was claimed before (waits for a claim in flight). */
    idemClaim: `INSERT INTO ${idem} (idem_key, key) VALUES ($1, $2) ON CONFLICT (idem_key) DO NOTHING RETURNING 1`,
    idemGet: `SELECT key, version::text AS version FROM ${idem} WHERE idem_key = $1`,
    idemDone: `UPDATE ${idem} SET version = $2 WHERE idem_key = $1`,
    /** Deletes up to $2 records older than $1 ms, skipping rows another node is deleting. */
    idemPurge: `DELETE FROM ${idem} WHERE ctid IN (
        SELECT ctid FROM ${idem} WHERE created_at < now() - $1::bigint * interval '1 millisecond'
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,

    /**
     * One round of a group commit: $1 keys (distinct), $2 values, $3
     * tombstone flags, $4 TTLs in ms (0 = none). Rows are taken in key order
     * ("C" collation) so that concurrent flushes lock rows in one order and
     * cannot deadlock. Every write draws its version from the one sequence:
     * a new key in the insert, an existing one after its row lock.
     */
    upsert: `INSERT INTO ${t} AS t (key, value, version, tombstone, expires_at, created_at, updated_at)
      SELECT u.key, u.value, nextval('${seq}'::regclass), u.tombstone,
             CASE WHEN u.ttl_ms > 0 THEN now() + u.ttl_ms * interval '1 millisecond' END, now(), now()
        FROM unnest($1::text[], $2::bytea[], $3::boolean[], $4::bigint[]) AS u(key, value, tombstone, ttl_ms)
       ORDER BY u.key COLLATE "C"
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = ${next},
             tombstone = EXCLUDED.tombstone, expires_at = EXCLUDED.expires_at, updated_at = now()
      RETURNING key, version`,

    read: `SELECT ${ROW} FROM ${t} WHERE key = $1 AND ${LIVE}`,

    readMany: `SELECT ${ROW} FROM ${t} WHERE key = ANY($1::text[]) AND ${LIVE}`,

    versions: `SELECT key, version FROM ${t} WHERE key = ANY($1::text[]) AND ${LIVE}`,

    /** The newest version of each key, live or not; expired: a value whose TTL passed (anti-entropy). */
    newest: `SELECT key, version, (NOT tombstone AND NOT ${LIVE}) AS expired FROM ${t} WHERE key = ANY($1::text[])`,

    /**
     * Read-through insert: writes $2 only where no live row exists (absent,
     * or expired and not a tombstone); a live row or any tombstone is left
     * alone and nothing is returned. The row is marked `legacy` (the legacy
     * API has the key), a mark later writes keep: such a key's tombstone is
     * never purged, or the legacy API would bring the value back.
     */
    hydrate: `INSERT INTO ${t} AS t (key, value, version, tombstone, expires_at, created_at, updated_at, legacy)
      VALUES ($1, $2, nextval('${seq}'::regclass), false, CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 millisecond' END,
              now(), now(), true)
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = ${next}, tombstone = false,
             expires_at = EXCLUDED.expires_at, updated_at = now(), legacy = true
       WHERE NOT t.tombstone AND t.expires_at IS NOT NULL AND t.expires_at <= now()
      RETURNING ${ROW}`,

    /** The row as it is now, live or not (hydrate's fallback). */
    current: `SELECT ${ROW}, NOT ${LIVE} AS expired FROM ${t} WHERE key = $1`,

    /**
     * `current`, always one row: the key's columns are null when it has no
     * row, and `purged` is the highest version the purge deleted. A replica
     * copy of a key without a row is at most that (the key's last row was
     * purged), unless PostgreSQL lost the row (a restore). `sequence` is the
     * version sequence's last value: below a version this node saw
     * committed, PostgreSQL lost commits (coordinator.ts, regression.ts).
     */
    currentOrPurged: `SELECT r.*, p.version AS purged,
        (SELECT last_value FROM ${seq}) AS sequence FROM ${purged} p
      LEFT JOIN LATERAL (SELECT ${ROW}, NOT ${LIVE} AS expired FROM ${t} WHERE key = $1) r ON true`,

    /**
     * Rows after the cursor ($1 time, $2 key), in (updated_at, key) order,
     * updated at least $3 ms ago: a transaction that began before now() but
     * commits later stamps an earlier updated_at, so the most recent window
     * is left for the next scan instead of being skipped for good.
     */
    changedSince: `SELECT ${ROW}, NOT ${LIVE} AS expired,
             to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
        FROM ${t}
       WHERE (updated_at, key) > ($1::timestamptz, $2::text)
         AND updated_at < now() - $3::bigint * interval '1 millisecond'
       ORDER BY updated_at, key
       LIMIT $4`,
  } as const;
}

export type Statements = ReturnType<typeof statements>;

/**
 * A statement sent by name: each pooled connection parses it once and
 * PostgreSQL keeps its plan (a generic one after a few executions), where an
 * unnamed statement is parsed and planned again on every execution. For the
 * statements of every request (the group commit's upsert, reads); the name
 * is derived from the text, so stores of other tables never share one.
 */
export interface Prepared {
  readonly name: string;
  readonly text: string;
}

export function prepared(text: string): Prepared {
  return { name: `kvring_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`, text };
}
