// The purge's statements, for one (quoted) table. Every age is measured by
// PostgreSQL (now()), never by a node's clock. Each delete takes at most
// `limit` rows, skips rows a writer holds (SKIP LOCKED: the write wins and
// the row is looked at again next time), rechecks its condition on the row
// it deletes, and raises the purge watermark in the same statement, so a
// reader never sees a row gone without the watermark covering its version.

const AGE = (col: string) => `${col} < now() - $1::bigint * interval '1 millisecond'`;

/** A DELETE ... RETURNING version wrapped so that it also raises the watermark; returns the count as `n`. */
const withWatermark = (purged: string, del: string) => `WITH d AS (${del} RETURNING version),
  w AS (UPDATE ${purged} SET version = greatest(version, (SELECT max(version) FROM d))
         WHERE EXISTS (SELECT 1 FROM d) RETURNING 1)
  SELECT count(*)::int AS n FROM d`;

const EXPIRED = `NOT tombstone AND ${AGE('expires_at')}`;
const TOMBSTONE = `tombstone AND NOT legacy AND ${AGE('updated_at')}`;

/** `t` the quoted table, `purged` its watermark; $1 is the horizon in ms. */
export function purgeStatements(t: string, purged: string) {
  return {
    /** Rows expired more than $1 ms ago, oldest first, at most $2. */
    expired: withWatermark(
      purged,
      `DELETE FROM ${t} WHERE key IN (
         SELECT key FROM ${t} WHERE expires_at IS NOT NULL AND ${EXPIRED}
          ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AND ${EXPIRED}`,
    ),
    /** Tombstones older than $1 ms not marked legacy, oldest first, at most $2 (no legacy API configured). */
    tombstones: withWatermark(
      purged,
      `DELETE FROM ${t} WHERE key IN (
         SELECT key FROM ${t} WHERE ${TOMBSTONE}
          ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) AND ${TOMBSTONE}`,
    ),
    /** Tombstones older than $1 ms not marked legacy: the keys to ask the legacy API about, at most $2. */
    tombstoneCandidates: `SELECT key FROM ${t} WHERE ${TOMBSTONE} ORDER BY updated_at LIMIT $2`,
    /** The tombstones of keys $2 (the legacy API has none of them), if still old, unmarked tombstones. */
    tombstonesOf: withWatermark(purged, `DELETE FROM ${t} WHERE key = ANY($2::text[]) AND ${TOMBSTONE}`),
    /** Keys $1 exist in the legacy API: their tombstones are kept for good. */
    markLegacy: `UPDATE ${t} SET legacy = true WHERE key = ANY($1::text[]) AND NOT legacy`,
    /** One purger per table across the cluster: a session lock, released by unlock or by the connection's end. */
    tryLock: `SELECT pg_try_advisory_lock(hashtext('kvring_purge'), hashtext($1)) AS ok`,
    unlock: `SELECT pg_advisory_unlock(hashtext('kvring_purge'), hashtext($1)) AS ok`,
  } as const;
}

export type PurgeStatements = ReturnType<typeof purgeStatements>;
