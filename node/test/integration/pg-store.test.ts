// PgStore against a real PostgreSQL: versions, group commit, tombstones, TTL,
// read-through hydration and change scans.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { NodeMetrics } from '../../src/metrics.js';
import { InvalidKeyError } from '../../src/pg/errors.js';
import { PgStore, type PgStoreOptions } from '../../src/pg/store.js';
import { START_CURSOR, type ChangeCursor, type Row } from '../../src/pg/types.js';
import { pgStoreOptions, startPostgres, testLogger, type TestPostgres } from '../support/postgres.js';

let server: TestPostgres;
const stores: PgStore[] = [];

beforeAll(async () => {
  server = await startPostgres();
  console.log(`embedded PostgreSQL started in ${server.startupMs.toFixed(0)} ms`);
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await server?.destroy();
});

async function open(overrides: Partial<PgStoreOptions> = {}, metrics?: NodeMetrics): Promise<PgStore> {
  const store = await PgStore.open(pgStoreOptions(server, overrides), { log: testLogger(), metrics });
  stores.push(store);
  return store;
}

const set = (key: string, value: string, ttlMs = 0) => ({
  key,
  value: Buffer.from(value),
  tombstone: false,
  ttlMs,
});
const del = (key: string) => ({ key, value: null, tombstone: true, ttlMs: 0 });

async function sqlRow(table: string, key: string): Promise<Record<string, unknown> | undefined> {
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    const res = await c.query(`SELECT * FROM "${table}" WHERE key = $1`, [key]);
    return res.rows[0] as Record<string, unknown> | undefined;
  } finally {
    await c.end();
  }
}

/** Fails unless `xs` is strictly increasing. */
function expectIncreasing(xs: readonly number[]): void {
  for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]!);
}

describe('versions', () => {
  it('increase across keys, one write after another, and reads return the latest', async () => {
    const store = await open();
    const seen = [
      await store.write(set('a', 'a1')),
      await store.write(set('a', 'a2')),
      await store.write(set('b', 'b1')),
      await store.write(set('a', 'a3')),
    ];
    expectIncreasing(seen);
    const a = await store.read('a');
    expect(a).toEqual({ key: 'a', value: Buffer.from('a3'), version: seen[3], tombstone: false, ttlMs: 0 });
    expect((await store.read('b'))?.version).toBe(seen[2]);
    expect(await store.read('missing')).toBeUndefined();
  });

  it('come from one sequence shared by every table writer: a write started after another committed is higher, whatever the key and the store', async () => {
    const table = pgStoreOptions(server).table;
    const one = await open({ table });
    const two = await open({ table });
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) seen.push(await (i % 2 ? one : two).write(set(`x${i % 7}`, `v${i}`)));
    expectIncreasing(seen);
  });

  it('gives concurrent writes to a few keys distinct versions in submission order; the row keeps the last', async () => {
    const metrics = new NodeMetrics();
    const store = await open({}, metrics);
    const keys = ['k0', 'k1', 'k2'];
    const ops = Array.from({ length: 60 }, (_, i) => set(keys[i % 3]!, `v${i}`));
    // Submitted in one turn of the event loop: one flush, 20 rounds per key.
    const versions = await Promise.all(ops.map((op) => store.write(op)));
    for (const [k, key] of keys.entries()) {
      const mine = versions.filter((_, i) => i % 3 === k);
      expect(mine).toHaveLength(20);
      expectIncreasing(mine);
      const row = await store.read(key);
      expect(row?.version).toBe(mine[19]);
      expect(row?.value?.toString()).toBe(`v${57 + k}`);
    }
    expect(store.stats.flushes).toBeLessThan(ops.length);
  });

  it('keeps versions distinct across many concurrent flushes and two stores (two nodes)', async () => {
    const table = pgStoreOptions(server).table;
    const one = await open({ table, batchMax: 7 });
    const two = await open({ table, batchMax: 5 });
    const writes: Promise<number>[] = [];
    for (let i = 0; i < 300; i++) {
      const store = i % 2 === 0 ? one : two;
      writes.push(store.write(set(`hot${i % 4}`, `x${i}`)));
      if (i % 25 === 0) await new Promise((r) => setImmediate(r)); // spread over several flushes
    }
    const versions = await Promise.all(writes);
    for (let k = 0; k < 4; k++) {
      const mine = versions.filter((_, i) => i % 4 === k).sort((a, b) => a - b);
      expect(new Set(mine).size).toBe(75);
      const top = mine[74]!;
      const row = await one.read(`hot${k}`);
      expect(row?.version).toBe(top);
      // The stored value is the one whose write got the highest version.
      const winner = versions.findIndex((v, i) => i % 4 === k && v === top);
      expect(row?.value?.toString()).toBe(`x${winner}`);
    }
  });
});

describe('group commit', () => {
  it('carries 200 concurrent writes in fewer flushes than writes, and the batch-size metric shows it', async () => {
    const metrics = new NodeMetrics();
    const table = pgStoreOptions(server).table;
    const store = await open({ table, batchMax: 64 }, metrics);
    const before = store.stats;
    const versions = await Promise.all(Array.from({ length: 200 }, (_, i) => store.write(set(`g${i}`, 'v'))));
    expect(new Set(versions).size).toBe(200);
    const flushes = store.stats.flushes - before.flushes;
    expect(flushes).toBeLessThan(200);
    expect(flushes).toBeGreaterThanOrEqual(Math.ceil(200 / 64));
    const hist = (await metrics.pgBatchSize.get()).values;
    const count = hist.find((v) => v.metricName === 'kvring_postgres_batch_size_count')?.value;
    const sum = hist.find((v) => v.metricName === 'kvring_postgres_batch_size_sum')?.value;
    expect(sum).toBe(200);
    expect(count).toBe(flushes);
    // Every write is durable: a fresh connection sees all 200 rows.
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    const n = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}"`);
    await c.end();
    expect(n.rows[0]!.n).toBe(200);
  });

  it('close() commits the writes still queued before ending the pool', async () => {
    const table = pgStoreOptions(server).table;
    const store = await PgStore.open(pgStoreOptions(server, { table }), { log: testLogger() });
    const pending = Array.from({ length: 50 }, (_, i) => store.write(set(`c${i}`, 'v')));
    await store.close();
    const versions = await Promise.all(pending);
    expect(new Set(versions).size).toBe(50);
    expect(await sqlRow(table, 'c49')).toMatchObject({ version: String(versions[49]) });
    await expect(store.write(set('late', 'v'))).rejects.toMatchObject({
      code: 'POSTGRES_UNAVAILABLE',
      reason: 'closed',
    });
  });

  it('prints the throughput of writes through the batcher (figures, not assertions)', async () => {
    // [writes, kept in flight by "clients", batchMax, flushes in flight]
    const runs: [number, number, number, number][] = [
      [10_000, 1000, 512, 2],
      [10_000, 1000, 512, 1],
      [10_000, 100, 512, 2],
      [2_000, 100, 1, 2], // no batching: one commit per write, for comparison
    ];
    for (const [n, window, batchMax, flights] of runs) {
      const store = await open({ batchMax, maxFlushesInFlight: flights, poolSize: 4 });
      const keys = Math.min(2000, n);
      const t0 = performance.now();
      let next = 0;
      let t0Top = 0;
      const worker = async (): Promise<void> => {
        while (next < n) {
          const i = next++;
          const v = await store.write(set(`t${i % keys}`, `value-${i}`));
          if (i % keys === 0) t0Top = Math.max(t0Top, v);
        }
      };
      await Promise.all(Array.from({ length: window }, worker));
      const ms = performance.now() - t0;
      console.log(
        `group commit: ${n} writes, ${window} in flight, batchMax ${batchMax}, ${flights} flush(es) in flight: ` +
          `${ms.toFixed(0)} ms = ${Math.round((n / ms) * 1000)} writes/s, ` +
          `${(store.stats.writes / store.stats.flushes).toFixed(1)} writes/flush`,
      );
      expect((await store.read('t0'))?.version).toBe(t0Top);
    }
  });
});

describe('tombstones and TTL', () => {
  it('stores a delete as a versioned tombstone that reads as a row without value', async () => {
    const store = await open();
    const v1 = await store.write(set('d', 'v'));
    const v2 = await store.write(del('d'));
    expect(v2).toBeGreaterThan(v1);
    expect(await store.read('d')).toEqual({ key: 'd', value: null, version: v2, tombstone: true, ttlMs: 0 });
    expect(await store.write(set('d', 'again'))).toBeGreaterThan(v2);
    expect((await store.read('d'))?.tombstone).toBe(false);
    // A delete of a key never written is a tombstone with a version of its own.
    const never = await store.write(del('never'));
    expect(await store.read('never')).toMatchObject({ version: never, tombstone: true });
  });

  it('expires a row at its TTL (PostgreSQL clock); a later write continues its version count', async () => {
    const store = await open();
    await store.write(set('long', 'v', 60_000));
    const long = await store.read('long');
    expect(long?.ttlMs).toBeGreaterThan(50_000);
    expect(long?.ttlMs).toBeLessThanOrEqual(60_000);
    const first = await store.write(set('t', 'short', 300));
    let row: Row | undefined = await store.read('t');
    for (let i = 0; i < 50 && row; i++) {
      await new Promise((r) => setTimeout(r, 100));
      row = await store.read('t');
    }
    expect(row).toBeUndefined();
    expect((await store.readMany(['t'])).size).toBe(0);
    expect((await store.versions(['t'])).size).toBe(0);
    expect(await store.write(set('t', 'back'))).toBeGreaterThan(first);
    expect((await store.read('t'))?.ttlMs).toBe(0);
  });

  it('readMany and versions return the live rows of the keys asked', async () => {
    const store = await open();
    await store.write(set('m1', 'x'));
    const m1 = await store.write(set('m1', 'y'));
    const m2 = await store.write(set('m2', 'z'));
    const m3 = await store.write(del('m3'));
    const rows = await store.readMany(['m1', 'm2', 'm3', 'm4', 'm1']);
    expect([...rows.keys()].sort()).toEqual(['m1', 'm2', 'm3']);
    expect(rows.get('m1')?.value?.toString()).toBe('y');
    expect(rows.get('m3')?.tombstone).toBe(true);
    expect(await store.versions(['m1', 'm2', 'm3', 'm4'])).toEqual(
      new Map([
        ['m1', m1],
        ['m2', m2],
        ['m3', m3],
      ]),
    );
  });

  it('stores PostgreSQL timestamps and expiry, not the node clock', async () => {
    const table = pgStoreOptions(server).table;
    const store = await open({ table });
    const v = await store.write(set('clock', 'v', 60_000));
    const row = await sqlRow(table, 'clock');
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    const check = await c.query<{ same: boolean; ttl: unknown }>(
      `SELECT expires_at - updated_at AS ttl, created_at = updated_at AS same FROM "${table}" WHERE key = 'clock'`,
    );
    await c.end();
    expect(row).toMatchObject({ version: String(v), tombstone: false });
    expect(check.rows[0]).toMatchObject({ same: true });
    expect(check.rows[0]!.ttl).toMatchObject({ minutes: 1 });
  });
});

describe('hydrate (read-through)', () => {
  it('inserts a value for an absent key at a version from the sequence', async () => {
    const store = await open();
    const before = await store.write(set('other', 'v'));
    const row = await store.hydrate('h', Buffer.from('legacy'), 0);
    expect(row).toMatchObject({ key: 'h', value: Buffer.from('legacy'), tombstone: false, ttlMs: 0 });
    expect(row.version).toBeGreaterThan(before);
    expect((await store.read('h'))?.value?.toString()).toBe('legacy');
  });

  it('never overwrites a newer write and returns it instead', async () => {
    const store = await open();
    await store.write(set('h', 'fresh'));
    const v = await store.write(set('h', 'fresher'));
    const row = await store.hydrate('h', Buffer.from('legacy'), 0);
    expect(row).toMatchObject({ value: Buffer.from('fresher'), version: v, tombstone: false });
    expect((await store.read('h'))?.value?.toString()).toBe('fresher');
  });

  it('never overwrites a tombstone (no resurrection of a deleted key)', async () => {
    const store = await open();
    await store.write(set('h', 'v'));
    const v = await store.write(del('h'));
    const row = await store.hydrate('h', Buffer.from('legacy'), 0);
    expect(row).toEqual({ key: 'h', value: null, version: v, tombstone: true, ttlMs: 0 });
    expect((await store.read('h'))?.tombstone).toBe(true);
  });

  it('replaces an expired row, with a higher version', async () => {
    const store = await open();
    const old = await store.write(set('h', 'old', 100));
    let row: Row | undefined = await store.read('h');
    for (let i = 0; i < 50 && row; i++) {
      await new Promise((r) => setTimeout(r, 50));
      row = await store.read('h');
    }
    expect(row).toBeUndefined();
    const hydrated = await store.hydrate('h', Buffer.from('legacy'), 60_000);
    expect(hydrated).toMatchObject({ value: Buffer.from('legacy'), tombstone: false });
    expect(hydrated.version).toBeGreaterThan(old);
    expect(hydrated.ttlMs).toBeGreaterThan(59_000);
  });

  it('lets exactly one of many concurrent hydrations insert; all return the same row', async () => {
    const store = await open({ poolSize: 8 });
    const rows = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.hydrate('race', Buffer.from(`legacy${i}`), 0)),
    );
    expect(new Set(rows.map((r) => r.value?.toString())).size).toBe(1);
    expect(new Set(rows.map((r) => r.version)).size).toBe(1);
  });
});

describe('newest', () => {
  it('gives the newest version of each key, live or not, flagging a value whose TTL passed', async () => {
    const store = await open();
    const live = await store.write(set('live', 'v'));
    const short = await store.write(set('short', 'v', 1));
    await store.write(set('dead', 'v'));
    const dead = await store.write(del('dead'));
    await new Promise((r) => setTimeout(r, 20));
    const got = await store.newest(['live', 'short', 'dead', 'absent']);
    expect([...got.entries()].sort()).toEqual([
      ['dead', { version: dead, expired: false }],
      ['live', { version: live, expired: false }],
      ['short', { version: short, expired: true }],
    ]);
  });
});

describe('changedSince', () => {
  it('pages through every changed row once, in (updated_at, key) order, expired rows listed apart', async () => {
    const store = await open({ changeSettleMs: 0 });
    const keys = Array.from({ length: 23 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((k) => store.write(set(k, 'v'))));
    await store.write(del('p03'));
    await store.write(set('gone', 'v', 1));
    await new Promise((r) => setTimeout(r, 20));
    const seen: string[] = [];
    const expired: Array<{ key: string; version: number }> = [];
    let cursor: ChangeCursor = START_CURSOR;
    let pages = 0;
    for (let done = false; !done && pages < 20; pages++) {
      const page = await store.changedSince(cursor, 5);
      seen.push(...page.rows.map((r) => r.key));
      expired.push(...page.expired);
      cursor = page.next;
      done = page.done;
    }
    expect(pages).toBe(5); // 24 rows scanned, 5 per page
    expect(seen.length).toBe(23);
    expect(new Set(seen)).toEqual(new Set(keys));
    expect(seen.indexOf('p03')).toBe(22); // rewritten last, so it comes last
    expect(expired.map((e) => e.key)).toEqual(['gone']); // anti-entropy fences replicas with it
    // Nothing new: the same cursor comes back.
    const idle = await store.changedSince(cursor, 5);
    expect(idle).toEqual({ rows: [], expired: [], next: cursor, done: true });
    // A later write shows up after the cursor, with its new version.
    const again = await store.write(set('p10', 'again'));
    const later = await store.changedSince(cursor, 5);
    expect(later.rows.map((r) => [r.key, r.version])).toEqual([['p10', again]]);
  });

  it('holds back rows younger than the settle window (a slower transaction may still commit before them)', async () => {
    const store = await open({ changeSettleMs: 60_000 });
    await store.write(set('young', 'v'));
    const page = await store.changedSince(START_CURSOR, 10);
    expect(page.rows).toEqual([]);
    expect(page.done).toBe(true);
  });
});

describe('keys', () => {
  it('rejects a key with NUL or an unpaired surrogate with InvalidKeyError, before PostgreSQL sees it', async () => {
    const store = await open();
    await expect(store.write(set('a\0b', 'v'))).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.read('a\0b')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      name: 'InvalidKeyError',
    });
    await expect(store.write(set('x\uD800', 'v'))).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.write(set('k'.repeat(3000), 'v'))).rejects.toBeInstanceOf(InvalidKeyError);
    // The batch it would have joined is unaffected.
    expect(await store.write(set('fine', 'v'))).toBeGreaterThan(0);
  });

  it('refuses writes PostgreSQL would fail (bad TTL, tombstone with a value) with InvalidWriteError', async () => {
    const store = await open();
    await expect(store.write(set('k', 'v', -1))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      name: 'InvalidWriteError',
    });
    await expect(store.write(set('k', 'v', 1e300))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      name: 'InvalidWriteError',
    });
    await expect(
      store.write({ key: 'k', value: Buffer.from('v'), tombstone: true, ttlMs: 0 }),
    ).rejects.toThrow(/tombstone write carries no value/);
    await expect(store.hydrate('k', Buffer.from('v'), Number.NaN)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      name: 'InvalidWriteError',
    });
    expect(await store.read('k')).toBeUndefined();
  });

  it('round-trips Unicode keys and binary values exactly', async () => {
    const store = await open();
    const key = 'clé/🔑/ключ';
    const value = Buffer.from([0, 1, 2, 255, 0, 92, 120]);
    await Promise.all([
      store.write({ key, value, tombstone: false, ttlMs: 0 }),
      store.write(set('other', 'x')),
    ]);
    expect((await store.read(key))?.value).toEqual(value);
    expect((await store.readMany([key])).get(key)?.value).toEqual(value);
  });
});
