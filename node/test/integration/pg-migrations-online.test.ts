// Schema migrations while the table is in use, against a real PostgreSQL:
// a step that needs a table lock must not stall the table's readers and
// writers (nodes of the old release go on serving during a rolling
// upgrade), and the node of the old release keeps working on the schema a
// newer one migrated further (it stays so after a rollback).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { KvClient } from '@kvring/client';
import { startLocalCluster } from '@kvring/devcluster/local-cluster';
import { MIGRATIONS, MIGRATIONS_TABLE, migrate, type Migration } from '../../src/pg/migrations.js';
import { freshSchemaUrl, sqlAt, startPostgres, testLogger, type TestPostgres } from '../support/postgres.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let server: TestPostgres;
const clients: pg.Client[] = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await server?.destroy();
});

/** What a later release could add, as the rules allow (docs/ARCHITECTURE.md "Mixed versions"): additive only. */
const NEXT: Migration = {
  version: MIGRATIONS[MIGRATIONS.length - 1]!.version + 1,
  name: 'test: a nullable column and one with a constant default',
  statements: (t) => [
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS origin text NULL,
       ADD COLUMN IF NOT EXISTS hits bigint NOT NULL DEFAULT 0`,
  ],
};

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
}

/** Polls a condition of PostgreSQL's own state (no timing assumed: it waits until the condition holds). */
async function until(url: string, text: string): Promise<void> {
  for (;;) {
    const rows = await sqlAt<{ n: number }>(url, text);
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('a step behind a long transaction gives its lock wait up and tries again: the table never stalls', async () => {
  const url = await freshSchemaUrl(server);
  const migrator = await connect(url);
  await migrate(migrator, 'kv_store', testLogger(), 30_000);
  await sqlAt(url, `INSERT INTO kv_store (key, value) VALUES ('a', 'x')`);

  // A long transaction (a report, a backup) holds ACCESS SHARE on the table,
  // so the next step's ALTER TABLE must wait for its ACCESS EXCLUSIVE lock.
  const long = await connect(url);
  await long.query('BEGIN');
  await long.query('SELECT count(*) FROM kv_store');
  const migrating = migrate(migrator, 'kv_store', testLogger(), 30_000, [...MIGRATIONS, NEXT]);
  await until(
    url,
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE%'`,
  );

  // A writer and a reader as a node does them. PostgreSQL queues every later
  // lock request behind a waiting ALTER; without a lock timeout these would
  // wait as long as the long transaction lasts (here: until their own
  // statement timeout fails them).
  const app = await connect(url);
  await app.query(`SET statement_timeout = '10s'`);
  await app.query(
    `INSERT INTO kv_store (key, value) VALUES ('b', 'y') ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  expect((await app.query<{ value: Buffer }>(`SELECT value FROM kv_store WHERE key = 'a'`)).rows).toEqual([
    { value: Buffer.from('x') },
  ]);

  await long.query('COMMIT');
  expect((await migrating).applied).toEqual([NEXT.version]);
  const cols = await sqlAt<{ column_name: string }>(
    url,
    `SELECT column_name FROM information_schema.columns
      WHERE table_name = 'kv_store' AND table_schema = current_schema() AND column_name IN ('origin', 'hits')
      ORDER BY column_name`,
  );
  expect(cols.map((c) => c.column_name)).toEqual(['hits', 'origin']);
}, 60_000);

it("the baseline release's node serves on a table this build migrated further", async () => {
  const table = 'kv_compat';
  const migrator = await connect(server.url);
  await migrate(migrator, table, testLogger(), 30_000, [...MIGRATIONS, NEXT]);
  const dir = execFileSync('bash', [join(ROOT, 'scripts/old-version/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const cluster = await startLocalCluster({
    nodes: 1,
    postgresUrl: server.url,
    program: () => join(dir, 'node/dist/main.js'),
    env: {
      KVRING_POSTGRES_TABLE: table,
      KVRING_REPLICATION_FACTOR: '1',
      KVRING_READ_QUORUM: '1',
      KVRING_WRITE_QUORUM: '1',
    },
  });
  const client = new KvClient(cluster.clientAddresses, { timeoutMs: 5_000 });
  try {
    const v1 = await client.set('compat', 'old node');
    const v2 = await client.set('compat', 'old node again');
    expect(v2).toBeGreaterThan(v1);
    expect((await client.get('compat')).value.toString()).toBe('old node again');
    expect(await client.delete('compat')).toBeGreaterThan(v2);
  } finally {
    client.close();
    await cluster.stop();
  }
  const rows = await sqlAt<{ tombstone: boolean; origin: string | null; hits: string }>(
    server.url,
    `SELECT tombstone, origin, hits FROM ${table} WHERE key = 'compat'`,
  );
  expect(rows).toEqual([{ tombstone: true, origin: null, hits: '0' }]);
  const recorded = await sqlAt<{ n: number }>(
    server.url,
    `SELECT max(version)::int AS n FROM ${MIGRATIONS_TABLE} WHERE table_name = $1`,
    [table],
  );
  expect(recorded[0]?.n).toBe(NEXT.version);
}, 120_000);
