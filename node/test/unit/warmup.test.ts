// The warm-up at start (cluster/warmup.ts) and the hot list a peer answers
// with (cluster/hot-keys.ts), with scripted peers and a scripted PostgreSQL:
// values come from PostgreSQL only, never below what the replica holds, only
// for keys it owns, within the byte and time bounds.
import { describe, expect, it } from '@jest/globals';
import { Ring } from '@kvring/client/ring';
import type { DurableRow } from '../../src/cluster/coordinator.js';
import { hotKeys } from '../../src/cluster/hot-keys.js';
import { Warmup, type HotPeer, type WarmupDeps } from '../../src/cluster/warmup.js';
import type { HotKey, HotResponse } from '../../src/gen/kvring/v1/peer.js';
import { createLogger } from '../../src/log.js';
import { NodeMetrics } from '../../src/metrics.js';
import { MemoryStore, entryBytes } from '../../src/store/memory-store.js';

const row = (key: string, version: number, value: string | null, ttlMs = 0): DurableRow => ({
  key,
  value: value === null ? null : Buffer.from(value),
  version,
  tombstone: value === null,
  ttlMs,
});

const hot = (key: string, version: number, valueBytes = 8): HotKey => ({
  key,
  version,
  valueBytes,
  tombstone: false,
});

function peer(name: string, keys: HotKey[], up = true): HotPeer & { asked: number } {
  return {
    name,
    up,
    asked: 0,
    hot(): Promise<HotResponse> {
      this.asked++;
      return Promise.resolve({ member: name, keys });
    },
  };
}

function setup(
  opts: { maxBytes?: number; timeoutMs?: number; memory?: number } & Partial<
    Pick<WarmupDeps, 'peers' | 'readMany' | 'owns'>
  >,
) {
  const store = new MemoryStore({ maxBytes: opts.memory ?? 1 << 20 });
  const metrics = new NodeMetrics({ member: 'kv-0' });
  const warmup = new Warmup(
    { self: 'kv-0', maxBytes: opts.maxBytes ?? 1 << 19, timeoutMs: opts.timeoutMs ?? 5000 },
    {
      peers: opts.peers ?? (() => []),
      readMany: opts.readMany ?? (() => Promise.resolve(new Map())),
      owns: opts.owns ?? (() => true),
      store,
      metrics,
      log: createLogger('silent'),
    },
  );
  return { store, warmup, metrics };
}

const rowsOf = (rows: DurableRow[]) => (keys: readonly string[]) =>
  Promise.resolve(new Map(rows.filter((r) => keys.includes(r.key)).map((r) => [r.key, r])));

describe('warm-up', () => {
  it("installs PostgreSQL's rows, never a peer's version, and never below what the replica holds", async () => {
    const pg = [row('a', 10, 'pg-a'), row('b', 11, 'pg-b'), row('gone', 12, null), row('other', 13, 'x')];
    // The peer holds 'a' at an older version than PostgreSQL (it missed a write),
    // and lists 'expired', which PostgreSQL has no live row for.
    const p = peer('kv-1', [hot('a', 3), hot('b', 11), hot('gone', 12), hot('expired', 9), hot('other', 13)]);
    const s = setup({
      peers: () => [p],
      owns: (k) => k !== 'other',
      readMany: async (keys) => {
        // A write acknowledged while PostgreSQL answers the warm-up: 'b' v20 reaches the replica first.
        s.store.apply('b', Buffer.from('newer-b'), 20, false, 0);
        return rowsOf(pg)(keys);
      },
    });
    const { store } = s;
    const report = await s.warmup.run();

    expect(store.peek('a')).toMatchObject({ version: 10 });
    expect(store.peek('a')?.value?.toString()).toBe('pg-a');
    expect(store.peek('b')).toMatchObject({ version: 20 });
    expect(store.peek('b')?.value?.toString()).toBe('newer-b');
    expect(store.peek('gone')).toMatchObject({ version: 12, tombstone: true });
    expect(store.peek('expired')).toBeUndefined();
    expect(store.peek('other')).toBeUndefined();
    expect(report).toMatchObject({ keys: 2, peersAsked: 1, peersAnswered: 1, listed: 4, stopped: 'done' });
    expect(report.bytes).toBe(entryBytes('a', Buffer.from('pg-a')) + entryBytes('gone', null));
  });

  it('keeps an expiry marker: a row at the expired version is not installed', async () => {
    const s = setup({ peers: () => [peer('kv-1', [hot('t', 7)])], readMany: rowsOf([row('t', 7, 'old')]) });
    s.store.fence('t', 7);
    expect((await s.warmup.run()).keys).toBe(0);
    expect(s.store.peek('t')).toBeUndefined();
  });

  it('stops at its byte bound', async () => {
    const keys = Array.from({ length: 400 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const rows = keys.map((k, i) => row(k, i + 1, 'v'.repeat(100)));
    // The peers under-report sizes, so the bound is met while installing, not only when planning.
    const lists = [
      peer(
        'kv-1',
        keys.slice(0, 200).map((k, i) => hot(k, i + 1, 1)),
      ),
      peer(
        'kv-2',
        keys.slice(200).map((k, i) => hot(k, i + 201, 1)),
      ),
    ];
    const maxBytes = 20 * entryBytes('k000', Buffer.alloc(100)) + 50;
    const s = setup({ peers: () => lists, readMany: rowsOf(rows), maxBytes });
    const report = await s.warmup.run();
    expect(report.stopped).toBe('bytes');
    expect(report.keys).toBe(20);
    expect(report.bytes).toBeLessThanOrEqual(maxBytes);
    // Interleaved by rank: the hottest of each peer first.
    expect(s.store.peek('k000')).toBeDefined();
    expect(s.store.peek('k200')).toBeDefined();
  });

  it('stops at its time bound when PostgreSQL does not answer', async () => {
    const s = setup({
      peers: () => [peer('kv-1', [hot('a', 1)])],
      readMany: () => new Promise<Map<string, DurableRow>>(() => undefined),
      timeoutMs: 150,
    });
    const report = await s.warmup.run();
    expect(report).toMatchObject({ stopped: 'time', keys: 0 });
  });

  it('asks only the peers that are up once the connect grace is over, and is off at 0 bytes', async () => {
    const down = peer('kv-2', [hot('a', 1)], false);
    const up = peer('kv-1', [hot('b', 2)]);
    const s = setup({
      peers: () => [up, down],
      readMany: rowsOf([row('a', 1, 'x'), row('b', 2, 'y')]),
      timeoutMs: 200,
    });
    expect(await s.warmup.run()).toMatchObject({ peersAsked: 1, keys: 1, stopped: 'done' });
    expect(down.asked).toBe(0);

    const off = setup({ peers: () => [up], maxBytes: 0 });
    expect(await off.warmup.run()).toMatchObject({ stopped: 'disabled', peersAsked: 0 });
    expect(up.asked).toBe(1);
  });
});

describe('hot list', () => {
  it("lists the asking member's keys, most recently used first, within its bounds", () => {
    const ring = new Ring(['kv-0', 'kv-1', 'kv-2', 'kv-3'], { vnodes: 64 });
    const store = new MemoryStore({ maxBytes: 1 << 20 });
    const keys = Array.from({ length: 200 }, (_, i) => `h${i}`);
    keys.forEach((k, i) => store.apply(k, Buffer.from('val'), i + 1, false, 0));
    store.get('h5'); // now the most recently used
    const mine = keys.filter((k) => ring.isReplica(k, 'kv-0', 2));

    const all = hotKeys('kv-1', store, ring, 2, { member: 'kv-0', maxKeys: 1000, maxBytes: 1 << 20 });
    expect(all.keys.map((k) => k.key).sort()).toEqual([...mine].sort());
    const expectFirst = ring.isReplica('h5', 'kv-0', 2) ? 'h5' : [...mine].reverse()[0];
    expect(all.keys[0]?.key).toBe(expectFirst);
    expect(all.keys[0]).toMatchObject({ valueBytes: 3, tombstone: false });

    expect(
      hotKeys('kv-1', store, ring, 2, { member: 'kv-0', maxKeys: 3, maxBytes: 1 << 20 }).keys,
    ).toHaveLength(3);
    expect(hotKeys('kv-1', store, ring, 2, { member: 'kv-0', maxKeys: 1000, maxBytes: 1 }).keys).toHaveLength(
      1,
    );
  });
});
