// A write whose PostgreSQL answer is lost after the statement that commits
// it was sent: the node cannot know whether it committed, so it reports
// WRITE_IN_DOUBT, and neither the node nor the client sends it again (a
// second send could apply it twice: histories like x, y, x).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { KvClient } from '@kvring/client';
import { startPostgresProxy, type PostgresProxy } from '../support/postgres-proxy.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

let db: TestPostgres;
let proxy: PostgresProxy;
let cluster: LocalCluster;

beforeAll(async () => {
  db = await startPostgres();
  proxy = await startPostgresProxy(db.port);
  const url = new URL(db.url);
  url.port = String(proxy.port);
  cluster = await startLocalCluster({ nodes: 3, postgresUrl: url.toString() });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await proxy?.close();
  await db?.destroy();
}, 60_000);

it('reports WRITE_IN_DOUBT when the answer to the commit is lost, and sends the write once', async () => {
  // Every node is a seed: a client that retried would find another one.
  const client = new KvClient(cluster.clientAddresses, { timeoutMs: 15_000 });
  try {
    await client.set('warm', 'up');
    const key = 'in-doubt:key-7c1e';
    proxy.loseAnswerTo(Buffer.from(key));
    const outcome = await client.set(key, 'once').then(
      (version) => ({ resolved: version }),
      (err: unknown) => ({ rejected: err }),
    );
    expect(outcome).toMatchObject({ rejected: { reason: 'WRITE_IN_DOUBT', code: 2 } });
    expect(proxy.sent()).toBe(1);
    // It did commit: the doubt was real, and a retry would have written it twice.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const rows = (await c.query('SELECT count(*)::int AS n FROM kv_store WHERE key = $1', [key])).rows;
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await c.end();
    }
  } finally {
    client.close();
  }
}, 60_000);
