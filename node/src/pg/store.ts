// PgStore: the node's PostgreSQL layer. Writes go through a group-commit
// batcher (one multi-row upsert per flush, PostgreSQL assigning versions);
// reads, hydration and anti-entropy scans are single statements on a pool.
//
// Start-up choice: when PostgreSQL is unreachable at start, `open` does not
// fail (unless `requireReachable`): it resolves with a store that reports
// itself unreachable (`reachable`, `ping()` -> false, so /readyz says not
// ready) and migrates as soon as PostgreSQL answers, from a retry loop and
// from any operation. A pod whose database is briefly down then becomes
// ready within seconds of the database's return, instead of crash-looping
// into Kubernetes' growing restart back-off. Errors that waiting cannot fix
// (bad password, missing database, a table of the wrong shape) still make
// `open` fail, with PostgreSQL's reason in the message.
import pg from 'pg';
import type { Logger } from 'pino';
import type { NodeMetrics } from '../metrics.js';
import { GroupCommitBatcher, splitRounds } from './batcher.js';
import { flushTracer } from '../tracing/flush.js';
import { tracingOn } from '../tracing/tracer.js';
import {
  InvalidWriteError,
  PgUnavailableError,
  VersionMismatchError,
  afterCommitSent,
  describePgError,
  isUnreachable,
  toPgUnavailable,
} from './errors.js';
import { SchemaError, migrate } from './migrations.js';
import { connectionConfig, type PgStoreDeps, type PgStoreOptions } from './options.js';
import {
  MAX_IDEMPOTENCY_KEY_BYTES,
  checkKey,
  checkTtl,
  checkWrite,
  distinctKeys,
  quoteIdempotency,
  quotePurged,
  quoteSequence,
  quoteTable,
} from './validate.js';
import { purgeStatements, type PurgeStatements } from './purge-sql.js';
import { runPurge, type PurgeOutcome, type PurgeParams } from './purge.js';
import { statements, type ChangedRecord, type RowRecord, type Statements } from './sql.js';
import type {
  ChangeCursor,
  ChangePage,
  ConditionalResult,
  Row,
  VersionedStore,
  WriteCondition,
  WriteOp,
} from './types.js';

export type { PgStoreDeps, PgStoreOptions };

/** `currentOrPurged`: the key's row, or nulls, with the purge watermark. */
type CurrentRecord = { purged: string; sequence: string } & (
  (RowRecord & { expired: boolean }) | { key: null }
);

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
const HYDRATE_ATTEMPTS = 3;
/** Expired idempotency records one idempotent write deletes: keeps the table bounded without a job. */
const IDEM_PURGE_PER_WRITE = 10;

export class PgStore implements VersionedStore {
  private readonly pool: pg.Pool;
  private readonly sql: Statements;
  private readonly purgeSql: PurgeStatements;
  private readonly batcher: GroupCommitBatcher<WriteOp, number>;
  private readonly log: Logger;
  private readonly metrics: NodeMetrics | undefined;
  private migrated = false;
  private migrating: Promise<void> | undefined;
  private closing = false;
  private closed: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastSuccess = 0;
  private pinging = false;
  private up = false;
  private highest = 0;
  private readonly settleMs: number;

  private constructor(
    private readonly opts: PgStoreOptions,
    deps: PgStoreDeps,
  ) {
    this.log = deps.log;
    this.metrics = deps.metrics;
    const t = quoteTable(opts.table);
    this.sql = statements(
      t,
      quoteSequence(opts.table),
      quoteIdempotency(opts.table),
      quotePurged(opts.table),
    );
    this.purgeSql = purgeStatements(t, quotePurged(opts.table));
    this.settleMs = opts.changeSettleMs ?? 2 * opts.timeoutMs;
    this.pool = new pg.Pool({
      ...connectionConfig(opts),
      max: opts.poolSize,
      statement_timeout: opts.timeoutMs,
      // Client-side bound for a server that stopped answering (SIGSTOP, a
      // black-holed network); a little later than the server's own timeout,
      // which leaves the connection usable.
      query_timeout: opts.timeoutMs + 250,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection dropped by the server (restart, failover) must not
    // crash the process; the pool discards it and the next operation reconnects.
    this.pool.on('error', (err) => this.markDown(err));
    // pg-pool listens for errors only on idle clients: a backend that dies
    // while a client is checked out (PostgreSQL killed mid-query) would
    // otherwise emit an unhandled 'error' and end the process.
    this.pool.on('connect', (client) => client.on('error', (err) => this.markDown(err)));
    this.batcher = new GroupCommitBatcher<WriteOp, number>(
      (ops) => this.flush(ops),
      {
        maxItems: opts.batchMax,
        maxBytes: opts.batchMaxBytes ?? 16 * 1024 * 1024,
        maxInFlight: opts.maxFlushesInFlight ?? 2,
        ...(tracingOn() && {
          tracer: flushTracer('postgres group commit'),
          spanAttributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'INSERT ON CONFLICT' },
        }),
      },
      (op) => Buffer.byteLength(op.key) + (op.value?.length ?? 0),
    );
    this.metrics?.pgUp.set(0);
    const every = opts.pingIntervalMs ?? 5000;
    if (every > 0) {
      this.pingTimer = setInterval(() => {
        if (this.pinging || performance.now() - this.lastSuccess < every) return;
        this.pinging = true;
        void this.ping().finally(() => (this.pinging = false));
      }, every);
      this.pingTimer.unref();
    }
  }

  /** Connects and migrates (see the start-up choice at the top of this file). */
  static async open(opts: PgStoreOptions, deps: PgStoreDeps): Promise<PgStore> {
    const store = new PgStore(opts, deps);
    try {
      await store.ensureMigrated();
    } catch (err) {
      if (err instanceof PgUnavailableError && err.reason === 'unreachable' && !opts.requireReachable) {
        deps.log.warn(
          { err: err.message },
          'PostgreSQL unreachable at start: starting not ready, retrying until it answers',
        );
        store.scheduleRetry(RETRY_MIN_MS);
        return store;
      }
      clearInterval(store.pingTimer);
      await store.pool.end().catch(() => undefined);
      throw err;
    }
    return store;
  }

  get reachable(): boolean {
    return this.up;
  }

  /**
   * The highest version PostgreSQL returned to this store, committed
   * (writes, reads, scans). With one sequence, a write that began after it
   * was seen must get a higher one; otherwise PostgreSQL lost commits.
   */
  get highestVersion(): number {
    return this.highest;
  }

  /** Group commits started and writes they carried (for tests and figures). */
  get stats(): { readonly flushes: number; readonly writes: number } {
    return { flushes: this.batcher.stats.flushes, writes: this.batcher.stats.items };
  }

  write(op: WriteOp): Promise<number> {
    try {
      checkKey(op.key);
      checkWrite(op);
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the validator's own error (InvalidKeyError, InvalidWriteError), unchanged
      return Promise.reject(err);
    }
    if (this.closing) return Promise.reject(closedError('write'));
    return this.batcher.submit(
      op.tombstone
        ? { key: op.key, value: null, tombstone: true, ttlMs: 0 }
        : { key: op.key, value: op.value, tombstone: false, ttlMs: Math.floor(op.ttlMs) },
    );
  }

  /**
   * A write with conditions, outside the group commit: one transaction of
   * its own (a compare-and-set cannot share a multi-row upsert whose other
   * rows must commit regardless). Rejects with VersionMismatchError when the
   * expected version is not the current one; with an idempotency key whose
   * record exists, resolves with the recorded version and `replayed`.
   */
  writeConditional(op: WriteOp, cond: WriteCondition): Promise<ConditionalResult> {
    try {
      checkKey(op.key);
      checkWrite(op);
      checkCondition(cond);
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the validator's own error, unchanged
      return Promise.reject(err);
    }
    if (this.closing) return Promise.reject(closedError('write'));
    const w = op.tombstone ? { ...op, value: null, ttlMs: 0 } : { ...op, ttlMs: Math.floor(op.ttlMs) };
    return this.run('write_conditional', 'conditional write', async (c) => {
      await c.query('BEGIN');
      try {
        const idem = cond.idempotencyKey || undefined;
        if (idem !== undefined) {
          const prior = await this.claim(c, idem, w.key);
          if (prior !== undefined) {
            await c.query('ROLLBACK');
            return { version: this.saw(prior), replayed: true };
          }
        }
        const version = await this.applyOne(c, w, cond.expectedVersion);
        if (idem !== undefined) await c.query(this.sql.idemDone, [idem, version]);
        const done = await c.query('COMMIT');
        if (done.command !== 'COMMIT')
          throw new PgUnavailableError(`PostgreSQL answered ${done.command} to COMMIT`, 'statement');
        return { version: this.saw(version), replayed: false };
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async read(key: string): Promise<Row | undefined> {
    checkKey(key);
    const res = await this.run('read', 'read', (c) => c.query<RowRecord>(this.sql.read, [key]));
    const r = res.rows[0];
    return r ? this.row(r) : undefined;
  }

  /**
   * The live row (or tombstone) like `read`, plus the key's newest version
   * even when that row has expired: a replica may hold an older version of
   * a key whose newest value has expired, and must not be believed. When
   * the key has no row, the version is the purge watermark (0 before any
   * purge): the key's last row, a tombstone or an expired value, was purged
   * with a version at most that, and a replica's copy is older still.
   */
  async readCurrent(key: string): Promise<{ row: Row | undefined; version: number; sequence: number }> {
    checkKey(key);
    const res = await this.run('read', 'read', (c) =>
      c.query<CurrentRecord>(this.sql.currentOrPurged, [key]),
    );
    const r = res.rows[0];
    const sequence = Number(r?.sequence ?? 0);
    if (r === undefined || r.key === null)
      return { row: undefined, version: Number(r?.purged ?? 0), sequence };
    const row = this.row(r);
    return { row: !r.expired || r.tombstone ? row : undefined, version: row.version, sequence };
  }

  async readMany(keys: readonly string[]): Promise<Map<string, Row>> {
    const unique = distinctKeys(keys);
    const out = new Map<string, Row>();
    if (unique.length === 0) return out;
    const res = await this.run('read_many', 'read', (c) => c.query<RowRecord>(this.sql.readMany, [unique]));
    for (const r of res.rows) out.set(r.key, this.row(r));
    return out;
  }

  async versions(keys: readonly string[]): Promise<Map<string, number>> {
    const unique = distinctKeys(keys);
    const out = new Map<string, number>();
    if (unique.length === 0) return out;
    const res = await this.run('versions', 'version lookup', (c) =>
      c.query<{ key: string; version: string }>(this.sql.versions, [unique]),
    );
    for (const r of res.rows) out.set(r.key, this.saw(Number(r.version)));
    return out;
  }

  async newest(keys: readonly string[]): Promise<Map<string, { version: number; expired: boolean }>> {
    const unique = distinctKeys(keys);
    const out = new Map<string, { version: number; expired: boolean }>();
    if (unique.length === 0) return out;
    const res = await this.run('versions', 'version lookup', (c) =>
      c.query<{ key: string; version: string; expired: boolean }>(this.sql.newest, [unique]),
    );
    for (const r of res.rows) out.set(r.key, { version: Number(r.version), expired: r.expired });
    return out;
  }

  async hydrate(key: string, value: Buffer, ttlMs: number): Promise<Row> {
    checkKey(key);
    checkTtl(ttlMs);
    return this.run('hydrate', 'read-through insert', async (c) => {
      for (let attempt = 0; attempt < HYDRATE_ATTEMPTS; attempt++) {
        const ins = await c.query<RowRecord>(this.sql.hydrate, [key, value, Math.floor(ttlMs)]);
        if (ins.rows[0]) return this.row(ins.rows[0]);
        // Someone else's row is there: return it, unless it expired between
        // the two statements, in which case the insert may now proceed.
        const cur = await c.query<RowRecord & { expired: boolean }>(this.sql.current, [key]);
        const r = cur.rows[0];
        if (r && (!r.expired || r.tombstone)) return this.row(r);
      }
      throw new PgUnavailableError(
        `PostgreSQL read-through insert of a key did not settle after ${HYDRATE_ATTEMPTS} attempts`,
        'statement',
      );
    });
  }

  async changedSince(cursor: ChangeCursor, limit: number): Promise<ChangePage> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`changedSince: limit must be >= 1, got ${limit}`);
    const res = await this.run('changed_since', 'change scan', (c) =>
      c.query<ChangedRecord>(this.sql.changedSince, [cursor.at, cursor.key, this.settleMs, limit]),
    );
    const last = res.rows[res.rows.length - 1];
    return {
      rows: res.rows.filter((r) => !r.expired).map((r) => this.row(r)),
      expired: res.rows
        .filter((r) => r.expired && !r.tombstone)
        .map((r) => ({ key: r.key, version: Number(r.version) })),
      next: last ? { at: last.cursor_at, key: last.key } : cursor,
      done: res.rows.length < limit,
    };
  }

  /**
   * One purge run (purge.ts), unless another node holds the purge lock
   * (`{ ran: false }`). A failure ends the connection, which releases the lock.
   */
  purge(params: Omit<PurgeParams, 'idempotencyTtlMs'>): Promise<PurgeOutcome> {
    const p: PurgeParams = { ...params, idempotencyTtlMs: this.idempotencyTtlMs };
    return this.run('purge', 'purge', (c) =>
      runPurge(c, this.purgeSql, this.sql.idemPurge, this.opts.table, p),
    );
  }

  async ping(): Promise<boolean> {
    if (this.closing) return false;
    try {
      await this.run('ping', 'ping', (c) => c.query('SELECT 1'));
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      clearTimeout(this.retryTimer);
      clearInterval(this.pingTimer);
      await this.batcher.drain();
      await this.migrating?.catch(() => undefined);
      await this.pool.end();
      this.markDown(undefined);
    })();
    return this.closed;
  }

  // ---- internals -------------------------------------------------------

  /** One group commit: every round in one transaction; versions in batch order. */
  private flush(ops: readonly WriteOp[]): Promise<number[]> {
    this.metrics?.pgBatchSize.observe(ops.length);
    // Once the statement that commits is sent (COMMIT, or the one upsert of
    // an implicit transaction), a lost answer leaves the write in doubt.
    let commitSent = false;
    const what = `write of ${ops.length} key(s)`;
    const flushed = this.run('write', what, async (c) => {
      const rounds = splitRounds(ops.map((o) => o.key));
      const versions = new Array<number>(ops.length);
      const tx = rounds.length > 1;
      if (tx) await c.query('BEGIN');
      for (const round of rounds) {
        commitSent = !tx;
        const res = await c.query<{ key: string; version: string }>(this.sql.upsert, [
          round.map((i) => ops[i]!.key),
          round.map((i) => ops[i]!.value),
          round.map((i) => ops[i]!.tombstone),
          round.map((i) => ops[i]!.ttlMs),
        ]);
        const byKey = new Map(res.rows.map((r) => [r.key, Number(r.version)]));
        for (const i of round) {
          const v = byKey.get(ops[i]!.key);
          if (v === undefined)
            throw new PgUnavailableError(
              'PostgreSQL returned no version for a key of the batch',
              'statement',
            );
          versions[i] = v;
        }
      }
      if (tx) {
        commitSent = true;
        const done = await c.query('COMMIT');
        // COMMIT of an aborted transaction answers ROLLBACK without an error.
        if (done.command !== 'COMMIT')
          throw new PgUnavailableError(`PostgreSQL answered ${done.command} to COMMIT`, 'statement');
      }
      for (const v of versions) this.saw(v);
      return versions;
    });
    return flushed.catch((err: unknown) => {
      throw commitSent ? afterCommitSent(err, what) : err;
    });
  }

  /** Claims `idem` for `key`, or returns the version its first write recorded. */
  private async claim(c: pg.PoolClient, idem: string, key: string): Promise<number | undefined> {
    await c.query(this.sql.idemPurge, [this.idempotencyTtlMs, IDEM_PURGE_PER_WRITE]);
    if ((await c.query(this.sql.idemClaim, [idem, key])).rowCount === 1) return undefined;
    const rec = (await c.query<{ key: string; version: string | null }>(this.sql.idemGet, [idem])).rows[0];
    // Gone between the two statements: deleted as expired just now.
    if (rec === undefined || rec.version === null)
      throw new PgUnavailableError('idempotency record changed during the write; retry', 'statement');
    if (rec.key !== key)
      throw new InvalidWriteError(
        `idempotency_key was already used for another key; use a new idempotency key per write`,
      );
    return Number(rec.version);
  }

  /** The write of one key, conditional when `expected` is set; its version. */
  private async applyOne(c: pg.PoolClient, op: WriteOp, expected: number | undefined): Promise<number> {
    const args = [op.key, op.value, op.tombstone, op.ttlMs];
    let res: pg.QueryResult<{ version: string }>;
    if (expected === undefined)
      res = await c.query<{ version: string }>(this.sql.upsert, [
        [op.key],
        [op.value],
        [op.tombstone],
        [op.ttlMs],
      ]);
    else if (expected === 0) res = await c.query<{ version: string }>(this.sql.casAbsent, args);
    else res = await c.query<{ version: string }>(this.sql.casUpdate, [...args, expected]);
    const row = res.rows[0];
    if (row !== undefined) return Number(row.version);
    const cur = (await c.query<RowRecord & { expired: boolean }>(this.sql.current, [op.key])).rows[0];
    const current = cur === undefined || cur.expired || cur.tombstone ? 0 : Number(cur.version);
    throw new VersionMismatchError(op.key, expected ?? 0, current);
  }

  /** A row PostgreSQL returned (so committed): its version raises the high-water mark. */
  private row(r: RowRecord): Row {
    const row = toRow(r);
    this.saw(row.version);
    return row;
  }

  private get idempotencyTtlMs(): number {
    return Math.floor(this.opts.idempotencyTtlMs ?? 24 * 3600 * 1000);
  }

  private saw(version: number): number {
    if (version > this.highest) {
      this.highest = version;
      this.metrics?.versionHighWater.set(version);
    }
    return version;
  }

  /**
   * Runs `fn` on a pooled connection once the schema is in place, with
   * metrics, reachability tracking and every failure turned into a
   * PgUnavailableError. A failed connection is discarded, which also rolls
   * back an open transaction.
   */
  private async run<T>(op: string, what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closing && op !== 'write') throw closedError(what);
    const stop = this.metrics?.pgDuration.startTimer({ op });
    try {
      await this.ensureMigrated();
      const client = await this.pool.connect();
      let failure: Error | undefined;
      try {
        const result = await fn(client);
        this.markUp();
        return result;
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
        throw err;
      } finally {
        client.release(failure);
      }
    } catch (err) {
      // Refusals of the write itself, not failures of PostgreSQL.
      if (err instanceof VersionMismatchError || err instanceof InvalidWriteError) throw err;
      this.metrics?.pgErrors.inc({ op });
      if (isUnreachable(err) && !(err instanceof PgUnavailableError && err.reason !== 'unreachable'))
        this.markDown(err);
      throw toPgUnavailable(err, what);
    } finally {
      stop?.();
    }
  }

  private ensureMigrated(): Promise<void> {
    if (this.migrated) return Promise.resolve();
    if (this.closing) return Promise.reject(closedError('schema migration'));
    this.migrating ??= this.migrateOnce().finally(() => {
      this.migrating = undefined;
    });
    return this.migrating;
  }

  private async migrateOnce(): Promise<void> {
    const timeout = this.opts.migrationTimeoutMs ?? Math.max(this.opts.timeoutMs, 60_000);
    const client = new pg.Client({ ...connectionConfig(this.opts), query_timeout: timeout + 250 });
    client.on('error', () => undefined); // surfaced by the pending query instead
    const stop = this.metrics?.pgDuration.startTimer({ op: 'migrate' });
    try {
      await client.connect();
      await migrate(client, this.opts.table, this.log, timeout);
      this.migrated = true;
      this.markUp();
    } catch (err) {
      this.metrics?.pgErrors.inc({ op: 'migrate' });
      if (err instanceof SchemaError)
        throw new PgUnavailableError(`PostgreSQL table unusable: ${err.message}`, 'statement', {
          cause: err,
        });
      if (isUnreachable(err)) this.markDown(err);
      throw toPgUnavailable(err, 'schema migration');
    } finally {
      stop?.();
      await client.end().catch(() => undefined);
    }
  }

  private scheduleRetry(delayMs: number): void {
    if (this.closing || this.migrated) return;
    this.retryTimer = setTimeout(() => {
      this.ensureMigrated().then(
        () => undefined,
        (err: unknown) => {
          this.log.debug({ err: describePgError(err) }, 'PostgreSQL still unreachable');
          this.scheduleRetry(Math.min(delayMs * 2, RETRY_MAX_MS));
        },
      );
    }, delayMs);
    this.retryTimer.unref();
  }

  private markUp(): void {
    this.lastSuccess = performance.now();
    if (!this.up) {
      this.up = true;
      this.metrics?.pgUp.set(1);
      this.log.info({ table: this.opts.table }, 'PostgreSQL reachable');
    }
  }

  private markDown(err: unknown): void {
    if (this.up) {
      this.up = false;
      this.metrics?.pgUp.set(0);
      if (err !== undefined) this.log.warn({ err: describePgError(err) }, 'PostgreSQL unreachable');
    }
  }
}

function toRow(r: RowRecord): Row {
  return {
    key: r.key,
    value: r.tombstone ? null : r.value,
    version: Number(r.version),
    tombstone: r.tombstone,
    ttlMs: Number(r.ttl_ms),
  };
}

function checkCondition(cond: WriteCondition): void {
  const v = cond.expectedVersion;
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
    throw new InvalidWriteError(`expected_version must be an integer >= 0, got ${v}`);
  const k = cond.idempotencyKey ?? '';
  if (Buffer.byteLength(k, 'utf8') > MAX_IDEMPOTENCY_KEY_BYTES || k.includes('\0'))
    throw new InvalidWriteError(
      `idempotency_key must be at most ${MAX_IDEMPOTENCY_KEY_BYTES} bytes in UTF-8, without NUL`,
    );
}

function closedError(what: string): PgUnavailableError {
  return new PgUnavailableError(`PostgreSQL store is closed (${what} not done)`, 'closed');
}
