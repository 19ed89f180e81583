import { describe, expect, it } from '@jest/globals';
import {
  ENTRY_OVERHEAD_BYTES,
  MemoryStore,
  VALUE_OVERHEAD_BYTES,
  FLOOR_OVERHEAD_BYTES,
  FLOOR_SHARE,
  entryBytes,
  floorBytes,
  type Entry,
  type MemoryStoreOptions,
} from '../../src/store/memory-store.js';
import { seededRandom as mulberry32 } from '@kvring/test-support/prng';

/** A store on a clock the test moves by hand. */
function storeWithClock(opts: Partial<MemoryStoreOptions> = {}): {
  store: MemoryStore;
  clock: { t: number };
} {
  const clock = { t: 1000 };
  const store = new MemoryStore({ maxBytes: 1 << 20, now: () => clock.t, ...opts });
  return { store, clock };
}

const buf = (s: string): Buffer => Buffer.from(s);
const text = (e: Entry | undefined): string | null | undefined =>
  e === undefined ? undefined : e.value === null ? null : e.value.toString();

describe('MemoryStore versions', () => {
  it('stores a write and returns it', () => {
    const { store } = storeWithClock();
    expect(store.apply('k', buf('v1'), 1, false, 0)).toBe(true);
    const e = store.get('k');
    expect(text(e)).toBe('v1');
    expect(e).toMatchObject({ version: 1, tombstone: false, expiresAt: 0 });
    expect(store.size).toBe(1);
  });

  it('applies only a higher version', () => {
    const { store } = storeWithClock();
    store.apply('k', buf('v5'), 5, false, 0);
    expect(store.apply('k', buf('v4'), 4, false, 0)).toBe(false);
    expect(store.apply('k', buf('v5 again'), 5, false, 0)).toBe(false);
    expect(text(store.get('k'))).toBe('v5');
    expect(store.apply('k', buf('v6'), 6, false, 0)).toBe(true);
    expect(text(store.get('k'))).toBe('v6');
    expect(store.size).toBe(1);
  });

  it('lets a tombstone block older values and a newer value replace it', () => {
    const { store } = storeWithClock();
    store.apply('k', buf('v1'), 1, false, 0);
    expect(store.apply('k', null, 2, true, 0)).toBe(true);
    expect(store.get('k')).toMatchObject({ value: null, version: 2, tombstone: true });
    // A late replica write or repair of v1 must not resurrect the key.
    expect(store.apply('k', buf('v1'), 1, false, 0)).toBe(false);
    expect(store.apply('k', buf('v2?'), 2, false, 0)).toBe(false);
    expect(store.get('k')?.tombstone).toBe(true);
    expect(store.apply('k', buf('v3'), 3, false, 0)).toBe(true);
    expect(store.get('k')).toMatchObject({ version: 3, tombstone: false });
  });

  it('remembers an expired version: neither an older one nor the same one may take its place, a newer one may', () => {
    const { store, clock } = storeWithClock();
    store.apply('k', buf('v9'), 9, false, 100);
    clock.t += 100;
    expect(store.apply('k', buf('v3'), 3, false, 0)).toBe(false);
    expect(store.apply('k', buf('v9'), 9, false, 100)).toBe(false);
    expect(store.get('k')).toBeUndefined();
    expect(store.expirations).toBe(1);
    expect(store.apply('k', buf('v10'), 10, false, 0)).toBe(true);
    expect(store.get('k')).toMatchObject({ version: 10, unverified: false });
    expect(store.floorCount).toBe(0);
  });

  it('hands out snapshots: a later write does not change an entry already returned', () => {
    const { store } = storeWithClock();
    store.apply('k', buf('old'), 1, false, 0);
    const before = store.get('k');
    store.apply('k', buf('new'), 2, false, 0);
    expect(text(before)).toBe('old');
    expect(before?.version).toBe(1);
    expect(text(store.get('k'))).toBe('new');
  });

  it('rejects malformed writes without changing anything', () => {
    const { store } = storeWithClock();
    store.apply('k', buf('v'), 1, false, 0);
    expect(() => store.apply('k', buf('x'), 2, true, 0)).toThrow(/tombstone has a null value/);
    expect(() => store.apply('k', null, 2, false, 0)).toThrow(/tombstone has a null value/);
    expect(() => store.apply('k', buf('x'), -1, false, 0)).toThrow(/version must be/);
    expect(() => store.apply('k', buf('x'), 2.5, false, 0)).toThrow(/version must be/);
    expect(() => store.apply('k', buf('x'), 2, false, -1)).toThrow(/ttlMs must be/);
    expect(() => store.apply('k', buf('x'), 2, false, Number.NaN)).toThrow(/ttlMs must be/);
    expect(() => new MemoryStore({ maxBytes: -1 })).toThrow(/maxBytes/);
    expect(store.get('k')?.version).toBe(1);
    expect(store.bytes).toBe(entryBytes('k', buf('v')));
  });
});

describe('MemoryStore TTL', () => {
  it('never returns an expired entry, through get, peek or entries', () => {
    const expiredKeys: string[] = [];
    const { store, clock } = storeWithClock({ onExpire: (k) => expiredKeys.push(k) });
    store.apply('short', buf('s'), 1, false, 50);
    store.apply('long', buf('l'), 1, false, 500);
    store.apply('forever', buf('f'), 1, false, 0);
    clock.t += 49;
    expect(text(store.get('short'))).toBe('s');
    clock.t += 1; // exactly at expiresAt: gone
    expect(store.get('short')).toBeUndefined();
    expect(store.peek('short')).toBeUndefined();
    expect([...store.entries()].map(([k]) => k).sort()).toEqual(['forever', 'long']);
    clock.t += 1_000_000;
    expect(store.peek('long')).toBeUndefined();
    expect(text(store.get('forever'))).toBe('f');
    expect([...store.entries()].map(([k]) => k)).toEqual(['forever']);
    expect(store.expirations).toBe(2);
    expect(expiredKeys).toEqual(['short', 'long']);
    expect(store.size).toBe(1);
    expect(store.bytes).toBe(entryBytes('forever', buf('f')) + floorBytes('short') + floorBytes('long'));
  });

  it('takes the TTL of each write, a newer write replacing the old expiry', () => {
    const { store, clock } = storeWithClock();
    store.apply('k', buf('a'), 1, false, 100);
    expect(store.peek('k')?.expiresAt).toBe(1100);
    clock.t += 60;
    store.apply('k', buf('b'), 2, false, 0); // no TTL now
    clock.t += 10_000;
    expect(text(store.get('k'))).toBe('b');
    store.apply('k', buf('c'), 3, false, 10);
    clock.t += 10;
    expect(store.get('k')).toBeUndefined();
  });

  it('expires tombstones too', () => {
    const { store, clock } = storeWithClock();
    store.apply('k', null, 4, true, 20);
    clock.t += 20;
    expect(store.get('k')).toBeUndefined();
    expect(store.apply('k', buf('older'), 2, false, 0)).toBe(false);
    expect(store.apply('k', buf('newer'), 5, false, 0)).toBe(true);
  });

  it('reports the TTL left, never rounding a live expiry down to "never"', () => {
    const { store, clock } = storeWithClock();
    store.apply('t', buf('v'), 1, false, 100);
    store.apply('n', buf('v'), 1, false, 0);
    clock.t += 99.7;
    const t = store.peek('t');
    expect(t && store.ttlRemainingMs(t)).toBe(1);
    const n = store.peek('n');
    expect(n && store.ttlRemainingMs(n)).toBe(0);
  });

  it('sweeps expired entries in bounded steps and resumes where it stopped', () => {
    const { store, clock } = storeWithClock();
    for (let i = 0; i < 10; i++) store.apply(`e${i}`, buf('x'), 1, false, 10);
    for (let i = 0; i < 5; i++) store.apply(`k${i}`, buf('x'), 1, false, 0);
    clock.t += 10;
    expect(store.size).toBe(15);
    expect(store.sweep(4)).toBe(4);
    expect(store.sweep(4)).toBe(4);
    expect(store.sweep(100)).toBe(2);
    expect(store.size).toBe(5);
    expect(store.expirations).toBe(10);
    expect(store.sweep(100)).toBe(0);
    expect(store.bytes).toBe(5 * entryBytes('k0', buf('x')) + 10 * floorBytes('e0'));
  });

  it('drop removes a live entry, and treats an expired one as absent', () => {
    const { store, clock } = storeWithClock();
    store.apply('a', buf('x'), 1, false, 0);
    store.apply('b', buf('x'), 1, false, 5);
    expect(store.drop('a')).toBe(true);
    expect(store.drop('a')).toBe(false);
    clock.t += 5;
    expect(store.drop('b')).toBe(false);
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(floorBytes('a') + floorBytes('b'));
    expect(store.evictions).toBe(0);
  });
});

describe('MemoryStore memory budget', () => {
  // Three entries with 1-byte keys and 10-byte values fit exactly.
  const unit = entryBytes('a', Buffer.alloc(10));

  it('accounts key bytes (UTF-8), value bytes and the documented overheads', () => {
    expect(entryBytes('k\u00e9', Buffer.alloc(10))).toBe(
      3 + 10 + ENTRY_OVERHEAD_BYTES + VALUE_OVERHEAD_BYTES,
    );
    expect(entryBytes('k', null)).toBe(1 + ENTRY_OVERHEAD_BYTES);
    const { store } = storeWithClock();
    store.apply('k\u00e9', Buffer.alloc(10), 1, false, 0);
    store.apply('t', null, 1, true, 0);
    expect(store.bytes).toBe(entryBytes('k\u00e9', Buffer.alloc(10)) + entryBytes('t', null));
  });

  it('evicts the least recently used entry; a read makes an entry recent, a peek does not', () => {
    const evicted: string[] = [];
    const store = new MemoryStore({ maxBytes: 3 * unit, onEvict: (k) => evicted.push(k) });
    store.apply('a', Buffer.alloc(10), 1, false, 0);
    store.apply('b', Buffer.alloc(10), 1, false, 0);
    store.apply('c', Buffer.alloc(10), 1, false, 0);
    expect(store.get('a')).toBeDefined(); // order now b, c, a
    expect(store.peek('b')).toBeDefined(); // no effect on order
    store.apply('d', Buffer.alloc(10), 1, false, 0);
    expect(evicted).toEqual(['b']);
    expect(store.get('b')).toBeUndefined();
    store.apply('e', Buffer.alloc(10), 1, false, 0);
    expect(evicted).toEqual(['b', 'c']);
    expect([...store.entries()].map(([k]) => k).sort()).toEqual(['a', 'd', 'e']);
    expect(store.evictions).toBe(2);
    expect(store.bytes).toBe(3 * unit);
  });

  it('a replaced entry becomes the most recent one', () => {
    const store = new MemoryStore({ maxBytes: 3 * unit });
    store.apply('a', Buffer.alloc(10), 1, false, 0);
    store.apply('b', Buffer.alloc(10), 1, false, 0);
    store.apply('c', Buffer.alloc(10), 1, false, 0);
    store.apply('a', Buffer.alloc(10), 2, false, 0); // order now b, c, a
    store.apply('d', Buffer.alloc(10), 1, false, 0);
    expect(store.peek('b')).toBeUndefined();
    expect(store.peek('a')?.version).toBe(2);
  });

  it('evicts as many entries as a large write needs', () => {
    const store = new MemoryStore({ maxBytes: 3 * unit });
    for (const k of ['a', 'b', 'c']) store.apply(k, Buffer.alloc(10), 1, false, 0);
    expect(store.apply('z', Buffer.alloc(2 * unit), 1, false, 0)).toBe(true); // more than 2 units
    expect(store.size).toBe(1);
    expect(store.evictions).toBe(3);
    expect(store.bytes).toBeLessThanOrEqual(store.maxBytes);
  });

  it('counts an expired entry found at the LRU end as an expiration, not an eviction', () => {
    const clock = { t: 0 };
    const store = new MemoryStore({ maxBytes: 3 * unit, now: () => clock.t });
    store.apply('a', Buffer.alloc(10), 1, false, 5);
    store.apply('b', Buffer.alloc(10), 1, false, 0);
    store.apply('c', Buffer.alloc(10), 1, false, 0);
    clock.t = 5;
    store.apply('d', Buffer.alloc(10), 1, false, 0);
    expect(store.expirations).toBe(1);
    expect(store.evictions).toBe(0);
    expect(store.size).toBe(3);
  });

  it('refuses an entry larger than the whole budget, and drops the older version it would replace', () => {
    const evicted: string[] = [];
    const store = new MemoryStore({ maxBytes: 3 * unit, onEvict: (k) => evicted.push(k) });
    store.apply('a', Buffer.alloc(10), 1, false, 0);
    store.apply('b', Buffer.alloc(10), 1, false, 0);
    expect(store.apply('huge', Buffer.alloc(3 * unit), 1, false, 0)).toBe(false);
    expect(store.peek('huge')).toBeUndefined();
    expect(store.size).toBe(2); // nothing else was evicted for it
    // Holding v1 while v2 exists elsewhere would be holding a known-stale value.
    expect(store.apply('a', Buffer.alloc(3 * unit), 2, false, 0)).toBe(false);
    expect(store.peek('a')).toBeUndefined();
    expect(evicted).toEqual(['a']);
    expect(store.bytes).toBe(unit);
    // An older oversized write is simply stale: b stays.
    store.apply('b', Buffer.alloc(10), 5, false, 0);
    expect(store.apply('b', Buffer.alloc(3 * unit), 4, false, 0)).toBe(false);
    expect(store.peek('b')?.version).toBe(5);
  });

  it('stores an entry exactly the size of the budget', () => {
    const store = new MemoryStore({ maxBytes: unit });
    expect(store.apply('a', Buffer.alloc(10), 1, false, 0)).toBe(true);
    expect(store.bytes).toBe(unit);
  });

  it('never exceeds the budget under a random workload, floors included, and never goes back in time', () => {
    const rand = mulberry32(7);
    const clock = { t: 0 };
    const maxBytes = 64 * 1024;
    const store = new MemoryStore({ maxBytes, now: () => clock.t });
    // Versions come from one sequence for all keys (the DurableStore contract).
    let seq = 0;
    const issued = new Map<string, number[]>(); // versions issued per key, oldest first
    const lastApplied = new Map<string, number>(); // version of the last accepted write per key
    const highest = new Map<string, number>(); // highest version the store ever accepted per key
    let violations = 0;
    let wrongVersions = 0;
    let backInTime = 0;
    let accepted = 0;
    let unverifiedSeen = 0;
    for (let op = 0; op < 20_000; op++) {
      const key = `key-${Math.floor(rand() * 300)}${rand() < 0.05 ? '\u00e9\u{1F600}' : ''}`;
      const r = rand();
      clock.t += rand() * 3;
      if (r < 0.55) {
        // Mostly fresh versions, sometimes a late one (a hint, a slow frame) the key had before.
        const old = issued.get(key) ?? [];
        let version: number;
        if (rand() < 0.8 || old.length === 0) {
          version = ++seq;
          old.push(version);
          issued.set(key, old.slice(-4));
        } else version = old[Math.floor(rand() * old.length)]!;
        const tombstone = rand() < 0.1;
        const size = rand() < 0.01 ? 70_000 : Math.floor(rand() * 2000);
        const ttl = rand() < 0.3 ? Math.floor(rand() * 500) : 0;
        if (store.apply(key, tombstone ? null : Buffer.alloc(size, 1), version, tombstone, ttl)) {
          lastApplied.set(key, version);
          highest.set(key, Math.max(highest.get(key) ?? 0, version));
          accepted++;
        }
      } else if (r < 0.85) {
        const e = rand() < 0.5 ? store.get(key) : store.peek(key);
        if (e !== undefined && e.version !== lastApplied.get(key)) wrongVersions++;
        if (e !== undefined && e.expiresAt !== 0 && e.expiresAt <= clock.t) wrongVersions++;
        // What is served as current is never older than what the store once held.
        if (e?.unverified === true) unverifiedSeen++;
        else if (e !== undefined && e.version < (highest.get(key) ?? 0)) backInTime++;
      } else if (r < 0.9) {
        store.drop(key);
      } else if (r < 0.92) {
        store.sweep(50);
      }
      if (store.bytes > maxBytes || store.bytes < 0) violations++;
      if (store.floorBytes > maxBytes * FLOOR_SHARE) violations++;
      if (op % 500 === 0) {
        let sum = 0;
        for (const [k, e] of store.entries()) sum += entryBytes(k, e.value);
        if (sum + store.floorBytes !== store.bytes) violations++;
        if (store.floorBytes < store.floorCount * FLOOR_OVERHEAD_BYTES) violations++;
      }
    }
    expect({ violations, wrongVersions, backInTime }).toEqual({
      violations: 0,
      wrongVersions: 0,
      backInTime: 0,
    });
    // The workload really did exercise eviction, expiry, floors and lost floors.
    expect(accepted).toBeGreaterThan(5000);
    expect(store.evictions).toBeGreaterThan(100);
    expect(store.expirations).toBeGreaterThan(100);
    expect(store.floorCount).toBeGreaterThan(10);
    expect(store.lostFloor).toBeGreaterThan(0);
    expect(unverifiedSeen).toBeGreaterThan(0);
  });

  it('copies a value that is a small view into a large buffer, and keeps ordinary buffers', () => {
    const { store } = storeWithClock();
    const frame = Buffer.alloc(1 << 20, 7);
    const view = frame.subarray(100, 200);
    store.apply('view', view, 1, false, 0);
    const held = store.peek('view')?.value;
    expect(held?.equals(view)).toBe(true);
    expect(held?.buffer).not.toBe(frame.buffer);
    const own = Buffer.alloc(100_000);
    store.apply('own', own, 1, false, 0);
    expect(store.peek('own')?.value).toBe(own);
  });

  it('clear empties the store without counting evictions', () => {
    const { store } = storeWithClock();
    store.apply('a', buf('x'), 1, false, 0);
    store.apply('b', null, 1, true, 0);
    store.clear();
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
    expect(store.evictions).toBe(0);
    expect(store.get('a')).toBeUndefined();
    store.apply('c', buf('x'), 1, false, 0);
    expect([...store.entries()].map(([k]) => k)).toEqual(['c']);
  });
});

describe('MemoryStore iteration', () => {
  it('survives drops during iteration (streaming keys to their new owners)', () => {
    const { store } = storeWithClock();
    for (let i = 0; i < 100; i++) store.apply(`k${i}`, buf(`v${i}`), 1, false, 0);
    const seen: string[] = [];
    for (const [k] of store.entries()) {
      seen.push(k);
      store.drop(k);
      // Dropping a key not reached yet must not end or derail the iteration.
      if (k === 'k10') store.drop('k50');
    }
    expect(seen.length).toBe(99);
    expect(seen).not.toContain('k50');
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(store.floorBytes);
  });

  it('does not change recency', () => {
    const store = new MemoryStore({ maxBytes: 2 * entryBytes('a', Buffer.alloc(1)) });
    store.apply('a', Buffer.alloc(1), 1, false, 0);
    store.apply('b', Buffer.alloc(1), 1, false, 0);
    for (const [k, e] of store.entries()) expect(e.value?.length).toBe(k.length);
    store.apply('c', Buffer.alloc(1), 1, false, 0);
    expect(store.peek('a')).toBeUndefined();
  });

  it('defaults to the performance.now() clock', () => {
    const store = new MemoryStore({ maxBytes: 1 << 20 });
    const before = performance.now();
    store.apply('k', buf('v'), 1, false, 60_000);
    const after = performance.now();
    const expiresAt = store.peek('k')?.expiresAt ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 60_000);
  });
});
