// Schema migrations against a real PostgreSQL: fresh databases, repeated and
// concurrent starts, and the upgrade of the prototype's kv_store table.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { LATEST_VERSION, MIGRATIONS_TABLE, migrate } from '../../src/pg/migrations.js';
import { PgStore, type PgStoreOptions } from '../../src/pg/store.js';
import {
  freshSchemaUrl,
  pgStoreOptions,
  sqlAt,
  startPostgres,
  testLogger,
  type TestPostgres,
} from '../support/postgres.js';

let server: TestPostgres;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

const freshDatabase = (): Promise<string> => freshSchemaUrl(server);
const sql = sqlAt;

async function withStore<T>(opts: PgStoreOptions, fn: (s: PgStore) => Promise<T>): Promise<T> {
  const store = await PgStore.open(opts, { log: testLogger() });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe('migrations', () => {
  it('create the table on a fresh database, record each version once, and do nothing the second time', async () => {
    const url = await freshDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const first = await migrate(c, 'kv_store', testLogger(), 5000);
      expect(first.applied).toEqual([1, 2, 3, 4, 5, 6]);
      expect(first.version).toBe(LATEST_VERSION);
      const second = await migrate(c, 'kv_store', testLogger(), 5000);
      expect(second.applied).toEqual([]);
    } finally {
      await c.end();
    }
    const recorded = await sql<{ version: number }>(
      url,
      `SELECT version FROM ${MIGRATIONS_TABLE} WHERE table_name = 'kv_store' ORDER BY version`,
    );
    expect(recorded.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const cols = await sql<{ column_name: string; data_type: string; is_nullable: string }>(
      url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_name = 'kv_store' AND table_schema = current_schema() ORDER BY ordinal_position`,
    );
    expect(cols).toEqual([
      { column_name: 'key', data_type: 'text', is_nullable: 'NO' },
      { column_name: 'value', data_type: 'bytea', is_nullable: 'YES' },
      { column_name: 'version', data_type: 'bigint', is_nullable: 'NO' },
      { column_name: 'tombstone', data_type: 'boolean', is_nullable: 'NO' },
      { column_name: 'expires_at', data_type: 'timestamp with time zone', is_nullable: 'YES' },
      { column_name: 'created_at', data_type: 'timestamp with time zone', is_nullable: 'NO' },
      { column_name: 'updated_at', data_type: 'timestamp with time zone', is_nullable: 'NO' },
      { column_name: 'legacy', data_type: 'boolean', is_nullable: 'NO' },
    ]);
  });

  it('let several nodes open the same new table at once: one migrates, all work', async () => {
    const url = await freshDatabase();
    const opts = pgStoreOptions(server, { url, table: 'kv_store', poolSize: 2 });
    const stores = await Promise.all(
      Array.from({ length: 5 }, () => PgStore.open(opts, { log: testLogger() })),
    );
    try {
      const versions = await Promise.all(
        stores.map((s) => s.write({ key: 'shared', value: Buffer.from('v'), tombstone: false, ttlMs: 0 })),
      );
      expect(new Set(versions).size).toBe(5);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    const recorded = await sql<{ n: number }>(
      url,
      `SELECT count(*)::int AS n FROM ${MIGRATIONS_TABLE} WHERE table_name = 'kv_store'`,
    );
    expect(recorded[0]?.n).toBe(6);
  });

  it("upgrade the prototype's kv_store(key, value) in place: its rows become version 1", async () => {
    const url = await freshDatabase();
    await sql(url, 'CREATE TABLE kv_store (key TEXT PRIMARY KEY, value BYTEA)');
    await sql(url, `INSERT INTO kv_store VALUES ('old1', 'hello'::bytea), ('old2', '\\x00ff'::bytea)`);
    let newVersion = 0;
    await withStore(pgStoreOptions(server, { url, table: 'kv_store' }), async (store) => {
      expect(await store.read('old1')).toEqual({
        key: 'old1',
        value: Buffer.from('hello'),
        version: 1,
        tombstone: false,
        ttlMs: 0,
      });
      expect((await store.read('old2'))?.value).toEqual(Buffer.from([0, 255]));
      newVersion = await store.write({ key: 'old1', value: Buffer.from('new'), tombstone: false, ttlMs: 0 });
      expect(newVersion).toBeGreaterThan(1);
      expect(await store.hydrate('old2', Buffer.from('legacy'), 0)).toMatchObject({ version: 1 });
    });
    const rows = await sql<{ key: string; version: string }>(
      url,
      'SELECT key, version FROM kv_store ORDER BY key',
    );
    expect(rows).toEqual([
      { key: 'old1', version: String(newVersion) },
      { key: 'old2', version: '1' },
    ]);
  });

  it('start the version sequence above every version a per-key counter left (migration 4, online)', async () => {
    const url = await freshDatabase();
    const opts = pgStoreOptions(server, { url, table: 'kv_store' });
    await withStore(opts, (s) =>
      s.write({ key: 'hot', value: Buffer.from('v'), tombstone: false, ttlMs: 0 }),
    );
    // Back to the schema of migration 3, with a key its per-key counter took far.
    await sql(url, 'DROP SEQUENCE kv_store_version_seq');
    await sql(url, `DELETE FROM ${MIGRATIONS_TABLE} WHERE table_name = 'kv_store' AND version >= 4`);
    await sql(url, `UPDATE kv_store SET version = 41 WHERE key = 'hot'`);
    await withStore(opts, async (store) => {
      // Another key, never written: its version still goes above 41.
      const fresh = await store.write({ key: 'cold', value: Buffer.from('v'), tombstone: false, ttlMs: 0 });
      expect(fresh).toBeGreaterThan(41);
      const hot = await store.write({ key: 'hot', value: Buffer.from('w'), tombstone: false, ttlMs: 0 });
      expect(hot).toBeGreaterThan(fresh);
    });
  });

  it('keep a key rising over a row version above the sequence (a node of the previous release mid-upgrade)', async () => {
    const url = await freshDatabase();
    const opts = pgStoreOptions(server, { url, table: 'kv_store' });
    await withStore(opts, async (store) => {
      await store.write({ key: 'k', value: Buffer.from('v'), tombstone: false, ttlMs: 0 });
      // What an old node's "version + 1" upserts can do to one hot key.
      await sql(url, `UPDATE kv_store SET version = 1000 WHERE key = 'k'`);
      expect(await store.write({ key: 'k', value: Buffer.from('w'), tombstone: false, ttlMs: 0 })).toBe(1001);
    });
  });

  it('quote the configured table name (mixed case stays as written)', async () => {
    const url = await freshDatabase();
    await withStore(pgStoreOptions(server, { url, table: 'Cache_Data' }), async (store) => {
      expect(await store.write({ key: 'k', value: Buffer.from('v'), tombstone: false, ttlMs: 0 })).toBe(1);
    });
    const t = await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM "Cache_Data"`);
    expect(t[0]?.n).toBe(1);
  });

  it('refuse a table name that is not a plain identifier, naming the setting', async () => {
    await expect(
      PgStore.open(pgStoreOptions(server, { table: 'kv; DROP TABLE x' }), { log: testLogger() }),
    ).rejects.toThrow(/KVRING_POSTGRES_TABLE/);
  });

  it('refuse an existing table kvring cannot use, saying which column is wrong', async () => {
    const url = await freshDatabase();
    await sql(url, 'CREATE TABLE kv_text (key TEXT PRIMARY KEY, value TEXT)');
    await expect(
      PgStore.open(pgStoreOptions(server, { url, table: 'kv_text' }), { log: testLogger() }),
    ).rejects.toThrow(/column value is text; kvring needs bytea/);
    await sql(url, 'CREATE TABLE kv_nokey (key TEXT, value BYTEA)');
    await expect(
      PgStore.open(pgStoreOptions(server, { url, table: 'kv_nokey' }), { log: testLogger() }),
    ).rejects.toMatchObject({
      code: 'POSTGRES_UNAVAILABLE',
      message: expect.stringMatching(/no primary key or unique index on key/),
    });
  });

  it("fail open() with PostgreSQL's reason when the database does not exist (waiting would not help)", async () => {
    await expect(
      PgStore.open(pgStoreOptions(server, { url: server.urlFor('no_such_db') }), { log: testLogger() }),
    ).rejects.toThrow(/3D000.*no_such_db/);
  });
});
