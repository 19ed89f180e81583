// How a PgStore is configured (mapped from the KVRING_POSTGRES_* settings by
// the node) and the pg client configuration derived from it.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { NodeMetrics } from '../metrics.js';

export interface PgStoreOptions {
  /** Connection URL; when set, host/port/database/user/password are ignored. */
  readonly url?: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Empty: taken from PGPASSWORD or ~/.pgpass by the pg client, if at all. */
  readonly password: string;
  /** Data table (a plain identifier; quoted in every statement). */
  readonly table: string;
  /** Connections in the pool (flushes and reads share it). */
  readonly poolSize: number;
  /** Most writes in one group commit. */
  readonly batchMax: number;
  /** Bound of one connect, and of one statement (server- and client-side). */
  readonly timeoutMs: number;
  /**
   * Group commits in flight at once (default 2). Writes in one flush get
   * versions in submission order; two flushes in flight may commit in either
   * order, which only reorders writes that were both still unacknowledged
   * (concurrent), so linearizability holds. Rows are locked in key order, so
   * concurrent flushes (of this node or others) cannot deadlock.
   */
  readonly maxFlushesInFlight?: number;
  /** Most value bytes in one group commit (default 16 MiB); one larger write still goes alone. */
  readonly batchMaxBytes?: number;
  /** Bound of each migration statement, lock waits included (default max(timeoutMs, 60 s)). */
  readonly migrationTimeoutMs?: number;
  /** changedSince leaves out rows updated in the last this-many ms (default 2 × timeoutMs); see sql.ts. */
  readonly changeSettleMs?: number;
  /** How long idempotency records are kept (default 24 h, KVRING_IDEMPOTENCY_TTL); older ones are deleted by the purge and a few at a time by later idempotent writes. */
  readonly idempotencyTtlMs?: number;
  /** Fail `open` when PostgreSQL is unreachable instead of starting unready (default false). */
  readonly requireReachable?: boolean;
  /**
   * When no operation succeeded for this long, a background `SELECT 1` keeps
   * `reachable` current on an idle node (default 5000; 0 = never).
   */
  readonly pingIntervalMs?: number;
}

export interface PgStoreDeps {
  readonly log: Logger;
  readonly metrics?: NodeMetrics;
}

export function connectionConfig(o: PgStoreOptions): pg.ClientConfig {
  const where: pg.ClientConfig = o.url
    ? { connectionString: o.url }
    : { host: o.host, port: o.port, database: o.database, user: o.user, password: o.password || undefined };
  return {
    ...where,
    application_name: 'kvring',
    connectionTimeoutMillis: o.timeoutMs,
    keepAlive: true,
  };
}
