// Versioned schema migrations of the data table, recorded per table in
// kvring_schema_migrations and applied at start under an advisory lock: every
// node of a cluster starts at once, and exactly one of them must migrate
// while the others wait and then find the work done.
//
// Migration 1 creates the table in the prototype's shape (key, value), so a
// prototype's existing kv_store and a fresh database go through the same
// steps: migration 2 adds what kvring needs, existing rows getting version 1.
// Migration 4 moves versions from per-key counters to one sequence.
import type pg from 'pg';
import type { Logger } from 'pino';
import { quoteDerived, quoteIdempotency, quotePurged, quoteSequence, quoteTable } from './validate.js';

export const MIGRATIONS_TABLE = 'kvring_schema_migrations';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements, given the quoted table name and the table name as configured. */
  readonly statements: (quoted: string, table: string) => readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'data table in the prototype shape',
    statements: (t) => [`CREATE TABLE IF NOT EXISTS ${t} (key text PRIMARY KEY, value bytea)`],
  },
  {
    version: 2,
    name: 'versions, tombstones, expiry and timestamps',
    // DEFAULT 1 gives rows a prototype wrote version 1; now() is stable, so
    // adding these columns does not rewrite a large table.
    statements: (t) => [
      `ALTER TABLE ${t}
         ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1,
         ADD COLUMN IF NOT EXISTS tombstone boolean NOT NULL DEFAULT false,
         ADD COLUMN IF NOT EXISTS expires_at timestamptz NULL,
         ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
         ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now()`,
    ],
  },
  {
    version: 3,
    name: 'index for changedSince (anti-entropy scans by updated_at, key)',
    statements: (t, table) => [
      `CREATE INDEX IF NOT EXISTS ${quoteDerived(table, '_updated_at_key_idx')} ON ${t} (updated_at, key)`,
    ],
  },
  {
    version: 4,
    name: 'one version sequence for every key',
    // Online: the max() scan takes only ACCESS SHARE, so writers carry on.
    // The sequence starts above every version a row holds (and above its
    // own position if it already existed), so no key ever gets a version
    // lower than one it had. A node of the previous release still writing
    // version + 1 meanwhile is covered by greatest() in the upsert (sql.ts).
    statements: (t, table) => {
      const seq = quoteSequence(table);
      return [
        `CREATE SEQUENCE IF NOT EXISTS ${seq} AS bigint MINVALUE 1`,
        `SELECT setval('${seq}'::regclass,
                greatest(coalesce((SELECT max(version) FROM ${t}), 0) + 1,
                         (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM ${seq})),
                false)`,
      ];
    },
  },
  {
    version: 5,
    name: 'idempotency records of writes',
    statements: (_t, table) => [
      `CREATE TABLE IF NOT EXISTS ${quoteIdempotency(table)} (
         idem_key text PRIMARY KEY,
         key text NOT NULL,
         version bigint NULL,
         created_at timestamptz NOT NULL DEFAULT now())`,
      `CREATE INDEX IF NOT EXISTS ${quoteDerived(table, '_idempotency_created_idx')}
         ON ${quoteIdempotency(table)} (created_at)`,
    ],
  },
  {
    version: 6,
    name: 'purge: legacy mark, purge watermark, indexes of purgeable rows',
    // The column is added without a rewrite (a constant default is stored in
    // the catalogue). The two partial indexes are built under a SHARE lock,
    // which holds writes back while they build: on a large table, create
    // them first with CREATE INDEX CONCURRENTLY under the same names (README
    // "Purge"); IF NOT EXISTS then finds them.
    statements: (t, table) => [
      `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS legacy boolean NOT NULL DEFAULT false`,
      `CREATE TABLE IF NOT EXISTS ${quotePurged(table)} (
         one boolean PRIMARY KEY DEFAULT true CHECK (one),
         version bigint NOT NULL DEFAULT 0)`,
      `INSERT INTO ${quotePurged(table)} DEFAULT VALUES ON CONFLICT DO NOTHING`,
      `CREATE INDEX IF NOT EXISTS ${quoteDerived(table, '_purge_tomb_idx')}
         ON ${t} (updated_at) WHERE tombstone AND NOT legacy`,
      `CREATE INDEX IF NOT EXISTS ${quoteDerived(table, '_purge_exp_idx')}
         ON ${t} (expires_at) WHERE expires_at IS NOT NULL`,
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Thrown when the table exists but cannot be used as is (wrong column types, no unique key, ...). */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

export interface MigrateResult {
  /** Versions this call applied (empty when another node, or an earlier start, did). */
  readonly applied: readonly number[];
  readonly version: number;
}

/**
 * How long one migration may wait for a table lock before it gives up and
 * tries again. PostgreSQL queues every later lock request on the table
 * behind a waiting ALTER TABLE, so an ALTER stuck behind a long transaction
 * (a report, a backup) would stall every reader and writer of the table,
 * old nodes included, for as long as that transaction lasts. Giving up soon
 * bounds the stall to this, per try.
 */
export const LOCK_TIMEOUT_MS = 500;
/** The pause between two tries, so that the queued readers and writers go through. */
const LOCK_RETRY_PAUSE_MS = 250;
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Brings `table` to the latest schema and checks it. Idempotent and safe to
 * run from many nodes at once. Each migration is a transaction of its own,
 * with its record, under a transaction-level advisory lock (one key, the one
 * releases before this one take for their whole migration too, so old and
 * new nodes starting together exclude each other; nothing outlives the
 * transaction, so a pooler in transaction mode is fine): one node applies a
 * migration, the others find it recorded. Lock waits, the advisory lock's
 * included, give up after LOCK_TIMEOUT_MS and are tried again until
 * `timeoutMs` has passed; `timeoutMs` also bounds each statement.
 */
export async function migrate(
  client: pg.ClientBase,
  table: string,
  log: Logger,
  timeoutMs: number,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  const quoted = quoteTable(table);
  const latest = migrations[migrations.length - 1]!.version;
  // Fast path: nothing to do, no lock taken (the usual case for every start
  // but the first). A node of an older release on a schema a newer one
  // migrated further finds its own latest version here too, and works on.
  const done = await appliedVersions(client, table);
  if (done.has(latest)) {
    await checkSchema(client, table);
    return { applied: [], version: latest };
  }
  const deadline = performance.now() + timeoutMs;
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    if (await applyOne(client, m, quoted, table, { deadline, timeoutMs, log })) applied.push(m.version);
  }
  if (applied.length > 0) log.info({ table, applied }, 'PostgreSQL schema migrated');
  await checkSchema(client, table);
  return { applied, version: latest };
}

interface Bounds {
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly log: Logger;
}

/**
 * One migration and its record in one transaction, unless another node
 * recorded it first (false). A lock wait that times out is tried again
 * until the deadline.
 */
async function applyOne(
  client: pg.ClientBase,
  m: Migration,
  quoted: string,
  table: string,
  { deadline, timeoutMs, log }: Bounds,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
      await client.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('${MIGRATIONS_TABLE}'))`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
           table_name text NOT NULL,
           version integer NOT NULL,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (table_name, version))`,
      );
      const recorded = await client.query(
        `SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE table_name = $1 AND version = $2`,
        [table, m.version],
      );
      if (recorded.rowCount === 0) {
        for (const sql of m.statements(quoted, table)) await client.query(sql);
        await client.query(
          `INSERT INTO ${MIGRATIONS_TABLE} (table_name, version, name) VALUES ($1, $2, $3)`,
          [table, m.version, m.name],
        );
      }
      await client.query('COMMIT');
      return recorded.rowCount === 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const lockWait = (err as { code?: unknown }).code === LOCK_NOT_AVAILABLE;
      if (!lockWait || performance.now() + LOCK_RETRY_PAUSE_MS >= deadline) throw err;
      if (attempt === 1 || attempt % 20 === 0)
        log.info(
          { table, migration: m.version, attempt },
          'schema migration waits for a lock another transaction holds; trying again',
        );
      await new Promise((r) => setTimeout(r, LOCK_RETRY_PAUSE_MS));
    }
  }
}

async function appliedVersions(client: pg.ClientBase, table: string): Promise<Set<number>> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
    MIGRATIONS_TABLE,
  ]);
  if (!exists.rows[0]?.t) return new Set();
  const res = await client.query<{ version: number }>(
    `SELECT version FROM ${MIGRATIONS_TABLE} WHERE table_name = $1`,
    [table],
  );
  return new Set(res.rows.map((r) => r.version));
}

// What the store's statements rely on, by column: accepted type names.
const EXPECTED_COLUMNS: Record<string, readonly string[]> = {
  key: ['text', 'character varying'],
  value: ['bytea'],
  version: ['bigint'],
  tombstone: ['boolean'],
  expires_at: ['timestamp with time zone'],
  created_at: ['timestamp with time zone'],
  updated_at: ['timestamp with time zone'],
  legacy: ['boolean'],
};

/**
 * Fails with a SchemaError naming the problem when the table (say, a
 * prototype's kv_store with a different shape) cannot serve the store's
 * statements, rather than failing every write later.
 */
export async function checkSchema(client: pg.ClientBase, table: string): Promise<void> {
  const quoted = quoteTable(table);
  const enc = await client.query<{ enc: string }>(`SELECT current_setting('server_encoding') AS enc`);
  if (enc.rows[0]?.enc !== 'UTF8')
    throw new SchemaError(
      `database encoding is ${enc.rows[0]?.enc ?? 'unknown'}; kvring needs UTF8 (keys are Unicode text)`,
    );
  const cols = await client.query<{ name: string; type: string; notnull: boolean; hasdef: boolean }>(
    `SELECT attname AS name, format_type(atttypid, NULL) AS type, attnotnull AS notnull, atthasdef AS hasdef
       FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [quoted],
  );
  if (cols.rows.length === 0) throw new SchemaError(`table ${table} does not exist after migration`);
  const byName = new Map(cols.rows.map((c) => [c.name, c]));
  for (const [name, types] of Object.entries(EXPECTED_COLUMNS)) {
    const col = byName.get(name);
    if (!col) throw new SchemaError(`table ${table} has no column ${name}`);
    if (!types.includes(col.type))
      throw new SchemaError(
        `table ${table}: column ${name} is ${col.type}; kvring needs ${types.join(' or ')}`,
      );
  }
  const extra = cols.rows.filter((c) => !(c.name in EXPECTED_COLUMNS) && c.notnull && !c.hasdef);
  if (extra.length > 0)
    throw new SchemaError(
      `table ${table}: column(s) ${extra.map((c) => c.name).join(', ')} are NOT NULL without a default; ` +
        'kvring does not fill them, so every write would fail',
    );
  const unique = await client.query(
    `SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1
        AND a.attname = 'key' AND i.indpred IS NULL`,
    [quoted],
  );
  if (unique.rowCount === 0)
    throw new SchemaError(
      `table ${table} has no primary key or unique index on key alone (upserts need one)`,
    );
  const seq = await client.query(`SELECT 1 FROM pg_class WHERE oid = to_regclass($1) AND relkind = 'S'`, [
    quoteSequence(table),
  ]);
  if (seq.rowCount === 0)
    throw new SchemaError(`sequence ${quoteSequence(table)} (the versions of table ${table}) does not exist`);
}
