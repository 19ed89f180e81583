// The embedded PostgreSQL launcher the tests and `make run` use.
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { launchEmbeddedPostgres } from '@kvring/devcluster/embedded-postgres';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function query(url: string, text: string): Promise<pg.QueryResultRow[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return (await c.query<Record<string, unknown>>(text)).rows;
  } finally {
    await c.end();
  }
}

describe('startPostgres', () => {
  let server: TestPostgres;

  it('starts PostgreSQL 18 on a loopback port with a kvring database', async () => {
    server = await startPostgres();
    cleanup.push(() => server.destroy());
    console.log(`embedded PostgreSQL: first start ${server.startupMs.toFixed(0)} ms`);
    expect(server.url).toBe(`postgres://kvring:kvring@127.0.0.1:${server.port}/kvring`);
    expect(server.running).toBe(true);
    const rows = await query(
      server.url,
      `SELECT current_database() AS db, current_setting('server_version_num')::int AS v`,
    );
    expect(rows[0]?.db).toBe('kvring');
    expect(rows[0]?.v).toBeGreaterThanOrEqual(180000);
    expect(server.dataDir.startsWith(tmpdir())).toBe(true);
  });

  it('stop() makes it unreachable and start() brings it back on the same port with the data', async () => {
    await query(server.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    const port = server.port;
    await server.stop();
    expect(server.running).toBe(false);
    await expect(query(server.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await server.stop(); // stopping twice is harmless
    const t0 = performance.now();
    await server.start();
    console.log(`embedded PostgreSQL: restart ${(performance.now() - t0).toFixed(0)} ms`);
    expect(server.port).toBe(port);
    expect(await query(server.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
  });

  it('destroy() stops it and removes its data', async () => {
    const other = await startPostgres();
    const dir = other.dataDir;
    expect(existsSync(dir)).toBe(true);
    await other.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(other.running).toBe(false);
  });
});

describe('launchEmbeddedPostgres with a data directory of its own (make run)', () => {
  it('initialises it once and reuses it on the next launch', async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'kvring-pg-test-'));
    await chmod(base, 0o755);
    cleanup.push(() => rm(base, { recursive: true, force: true }));
    const dataDir = path.join(base, 'pgdata');
    const first = await launchEmbeddedPostgres({ dataDir });
    try {
      await query(first.url, 'CREATE TABLE again (s text); INSERT INTO again VALUES ($$still here$$)');
    } finally {
      await first.stop();
    }
    const second = await launchEmbeddedPostgres({ dataDir });
    try {
      console.log(
        `embedded PostgreSQL: launch on an existing data directory ${second.startupMs.toFixed(0)} ms`,
      );
      expect(await query(second.url, 'SELECT s FROM again')).toEqual([{ s: 'still here' }]);
    } finally {
      await second.destroy();
    }
    expect(existsSync(dataDir)).toBe(false);
  });

  it("fails with PostgreSQL's own reason when the port asked for is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(launchEmbeddedPostgres({ port })).rejects.toThrow(
        new RegExp(`did not start on 127\\.0\\.0\\.1:${port}[^]*could not bind`),
      );
    } finally {
      blocker.close();
    }
  });

  it('says which parent directory the postgres user cannot enter, and what to do (as root)', async () => {
    if (userInfo().uid !== 0) return; // only root hands PostgreSQL to another user
    const closed = await mkdtemp(path.join(tmpdir(), 'kvring-pg-closed-')); // mode 0700
    cleanup.push(() => rm(closed, { recursive: true, force: true }));
    const dataDir = path.join(closed, 'inner', 'pgdata');
    await expect(launchEmbeddedPostgres({ dataDir })).rejects.toThrow(
      new RegExp(`cannot enter ${closed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(mode 0700.*chmod o\\+x`),
    );
  });
});
