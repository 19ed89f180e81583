// The purge against a real PostgreSQL: what it deletes and what it keeps,
// versions after a purge, the watermark readCurrent reports, the legacy
// lookup, idempotency records, and one purger at a time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { PgStore, type PgStoreOptions } from '../../src/pg/store.js';
import type { PurgeCounts, PurgeOutcome } from '../../src/pg/purge.js';
import { pgStoreOptions, startPostgres, testLogger, type TestPostgres } from '../support/postgres.js';

let server: TestPostgres;
const stores: PgStore[] = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await server?.destroy();
});

let tables = 0;
/** A fresh table name per test, so that the test can look at its rows. */
const freshTable = (): string => `purge_${process.pid}_${++tables}`;

async function open(overrides: Partial<PgStoreOptions> = {}): Promise<PgStore> {
  const store = await PgStore.open(pgStoreOptions(server, overrides), { log: testLogger() });
  stores.push(store);
  return store;
}

const set = (key: string, ttlMs = 0) => ({ key, value: Buffer.from(key), tombstone: false, ttlMs });
const del = (key: string) => ({ key, value: null, tombstone: true, ttlMs: 0 });

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Row keys of `table`, sorted. */
async function keysOf(table: string): Promise<string[]> {
  return (await sql<{ key: string }>(`SELECT key FROM "${table}" ORDER BY key`)).map((r) => r.key);
}

function counts(out: PurgeOutcome): PurgeCounts {
  if (!out.ran) throw new Error('purge did not run');
  return out.counts;
}

const now = { horizonMs: 0, batch: 2, maxBatches: 50 };

describe('purge', () => {
  it('deletes old tombstones and expired rows in batches, and keeps live rows and recent ones', async () => {
    const t = freshTable();
    const store = await open({ table: t });
    for (const k of ['d1', 'd2', 'd3']) {
      await store.write(set(k));
      await store.write(del(k));
    }
    for (const k of ['t1', 't2', 't3']) await store.write(set(k, 1));
    await store.write(set('live'));
    await store.write(set('later', 3_600_000));
    await new Promise((r) => setTimeout(r, 20));
    // A horizon of an hour: nothing is old enough yet.
    expect(counts(await store.purge({ ...now, horizonMs: 3_600_000 }))).toMatchObject({
      tombstones: 0,
      expired: 0,
    });
    // Batches of 2: a run still takes every old row (maxBatches allows it).
    expect(counts(await store.purge(now))).toMatchObject({ tombstones: 3, expired: 3 });
    expect(await keysOf(t)).toEqual(['later', 'live']);
  });

  it('stops a run after maxBatches statements of each kind', async () => {
    const store = await open();
    for (let i = 0; i < 7; i++) await store.write(del(`k${i}`));
    await new Promise((r) => setTimeout(r, 5));
    expect(counts(await store.purge({ horizonMs: 0, batch: 2, maxBatches: 2 })).tombstones).toBe(4);
    expect(counts(await store.purge({ horizonMs: 0, batch: 2, maxBatches: 2 })).tombstones).toBe(3);
  });

  it('gives a re-created key a version above the purged one, and reports the watermark for a key without a row', async () => {
    const store = await open();
    await store.write(set('k'));
    const deleted = await store.write(del('k'));
    await store.write(set('x', 1));
    const expired = await store.write(set('x', 1));
    await new Promise((r) => setTimeout(r, 5));
    counts(await store.purge(now));
    // Gone from the table; readCurrent says any copy of it is at most the highest purged version.
    expect(await store.readCurrent('k')).toMatchObject({
      row: undefined,
      version: Math.max(deleted, expired),
    });
    expect((await store.readCurrent('never')).version).toBe(Math.max(deleted, expired));
    const again = await store.write(set('k'));
    expect(again).toBeGreaterThan(deleted);
    expect((await store.read('k'))?.version).toBe(again);
    const hydrated = await store.hydrate('x', Buffer.from('legacy'), 0);
    expect(hydrated.version).toBeGreaterThan(expired);
  });

  it('keeps the tombstone of a key hydrated from the legacy API, and of one the legacy API has', async () => {
    const t = freshTable();
    const store = await open({ table: t });
    await store.hydrate('hydrated', Buffer.from('from legacy'), 0);
    await store.write(del('hydrated'));
    await store.write(set('direct'));
    await store.write(del('direct'));
    await store.write(del('unknown'));
    await store.write(del('no-answer'));
    await new Promise((r) => setTimeout(r, 5));
    const asked: string[] = [];
    const legacyHas = (key: string): Promise<boolean | undefined> => {
      asked.push(key);
      if (key === 'no-answer') return Promise.reject(new Error('legacy API down'));
      return Promise.resolve(key === 'direct');
    };
    const first = counts(await store.purge({ ...now, legacyHas }));
    expect(first).toMatchObject({ tombstones: 1, legacyKept: 1 });
    // The hydrated key is never asked about: its row carries the mark.
    expect(asked.sort()).toEqual(['direct', 'no-answer', 'unknown']);
    expect(await keysOf(t)).toEqual(['direct', 'hydrated', 'no-answer']);
    // Next run: only the key without an answer is asked again; the marked ones never.
    asked.length = 0;
    counts(await store.purge({ ...now, legacyHas }));
    expect(asked).toEqual(['no-answer']);
    // Without a legacy API, marked tombstones still stay.
    counts(await store.purge(now));
    expect(await keysOf(t)).toEqual(['direct', 'hydrated']);
    // A later write and delete of a marked key keep the mark.
    await store.write(set('hydrated'));
    await store.write(del('hydrated'));
    counts(await store.purge(now));
    expect(await keysOf(t)).toEqual(['direct', 'hydrated']);
  });

  it('deletes idempotency records older than KVRING_IDEMPOTENCY_TTL', async () => {
    const t = freshTable();
    // A retention of one minute, and the records aged by moving their
    // creation time back: a loaded machine cannot make the first purge see
    // them as old (a 50 ms retention did, once), and the second must.
    const store = await open({ table: t, idempotencyTtlMs: 60_000 });
    await store.writeConditional(set('a'), { idempotencyKey: 'i1' });
    await store.writeConditional(set('b'), { idempotencyKey: 'i2' });
    expect(counts(await store.purge({ ...now, horizonMs: 3_600_000 })).idempotency).toBe(0);
    await sql(`UPDATE "${t}_idempotency" SET created_at = created_at - interval '2 minutes'`);
    expect(counts(await store.purge({ ...now, horizonMs: 3_600_000 })).idempotency).toBe(2);
    expect(await sql(`SELECT 1 FROM "${t}_idempotency"`)).toEqual([]);
  });

  it('runs on one store at a time: a run finds the lock taken and deletes nothing', async () => {
    const t = freshTable();
    const store = await open({ table: t });
    await store.write(del('gone'));
    await new Promise((r) => setTimeout(r, 5));
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    try {
      // Another node's purge, as PostgreSQL sees it.
      await holder.query(`SELECT pg_advisory_lock(hashtext('kvring_purge'), hashtext($1))`, [t]);
      expect(await store.purge(now)).toEqual({ ran: false });
      expect(await keysOf(t)).toEqual(['gone']);
      await holder.query(`SELECT pg_advisory_unlock(hashtext('kvring_purge'), hashtext($1))`, [t]);
      expect(counts(await store.purge(now)).tombstones).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it('never has two runs at once among stores of one table', async () => {
    const t = freshTable();
    const first = await open({ table: t, poolSize: 2 });
    const others = await Promise.all([open({ table: t }), open({ table: t })]);
    for (let i = 0; i < 300; i++) await first.write(del(`k${i}`));
    await new Promise((r) => setTimeout(r, 5));
    let inside = 0;
    let most = 0;
    // A slow legacy lookup keeps each run inside the lock for a while.
    const legacyHas = async (): Promise<boolean> => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 2));
      inside--;
      return false;
    };
    const outcomes = await Promise.all(
      [first, ...others].map((s) =>
        s.purge({ horizonMs: 0, batch: 50, maxBatches: 10, legacyHas, legacyConcurrency: 1 }),
      ),
    );
    const ran = outcomes.filter((o) => o.ran);
    expect(ran.length).toBeGreaterThanOrEqual(1);
    expect(most).toBe(1);
    expect(ran.map((o) => counts(o).tombstones).reduce((a, b) => a + b, 0)).toBe(300);
  });
});
