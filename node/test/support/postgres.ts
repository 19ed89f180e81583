// A real PostgreSQL for tests: one embedded server per test file (started in
// beforeAll, destroyed in afterAll), a fresh table per test for isolation.
import pg from 'pg';
import { pino, type Logger } from 'pino';
import {
  launchEmbeddedPostgres,
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
} from '@kvring/devcluster/embedded-postgres';
import type { PgStoreOptions } from '../../src/pg/store.js';

export type TestPostgres = EmbeddedPostgresHandle;

/**
 * Starts PostgreSQL 18 on a free loopback port with a throwaway data
 * directory under os.tmpdir() and a `kvring` database. `stop()`/`start()`
 * keep the data; `destroy()` removes it. Set KVRING_TEST_PG_LOG=1 to see
 * PostgreSQL's log.
 */
export function startPostgres(opts: EmbeddedPostgresOptions = {}): Promise<TestPostgres> {
  return launchEmbeddedPostgres({
    onLog: process.env.KVRING_TEST_PG_LOG ? (t) => process.stderr.write(`[postgres] ${t}`) : undefined,
    ...opts,
  });
}

let tableSeq = 0;

/** A table name no other test of this process uses. */
export function uniqueTable(prefix = 'kv'): string {
  return `${prefix}_${process.pid}_${++tableSeq}`;
}

/** PgStore options pointing at `pg`, with a fresh table unless given. */
export function pgStoreOptions(pg: TestPostgres, overrides: Partial<PgStoreOptions> = {}): PgStoreOptions {
  return {
    url: pg.url,
    host: pg.host,
    port: pg.port,
    database: pg.database,
    user: pg.user,
    password: pg.password,
    table: uniqueTable(),
    poolSize: 4,
    batchMax: 512,
    timeoutMs: 2000,
    ...overrides,
  };
}

/** A logger that prints nothing (KVRING_TEST_LOG=1: debug to stderr). */
export function testLogger(): Logger {
  return process.env.KVRING_TEST_LOG
    ? pino({ level: 'debug' }, pino.destination(2))
    : pino({ level: 'silent' });
}

let schemaSeq = 0;

/**
 * A schema of its own on `server`, first on the search path of every
 * connection made with the returned URL, so that `kv_store` (the
 * prototype's name) and the migrations table can be used as is. (A schema
 * is instant; CREATE DATABASE copies files.)
 */
export async function freshSchemaUrl(server: TestPostgres): Promise<string> {
  const schema = `m${process.pid}_${++schemaSeq}`;
  await sqlAt(server.url, `CREATE SCHEMA ${schema}`);
  return `${server.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** One statement on a connection of its own. */
export async function sqlAt<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}
