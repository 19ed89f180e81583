// Micro-benchmark of the ring and the memory store; prints figures, asserts
// nothing. Run after `make build`:
//
//   node --expose-gc bench/dist/ring-bench.js
//
// Without --expose-gc the memory-per-entry section is skipped. Numbers are
// per operation, best of a few rounds, on whatever else the machine is doing.

import { PerformanceObserver } from 'node:perf_hooks';
import { hash64 } from '@kvring/client/ring';
import { Ring } from '@kvring/client/ring';
import { MemoryStore, entryBytes } from '@kvring/node/store/memory-store';

const ROUNDS = 5;

/** Best ns/op of `rounds` runs of `ops` operations. */
function nsPerOp(ops: number, run: () => void, rounds = ROUNDS): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / ops);
  }
  return best;
}

const fmt = (ns: number): string => `${ns.toFixed(0).padStart(6)} ns`;
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `kvc-${i}`);
const KEYS = Array.from({ length: 100_000 }, (_, i) => `user:${i}:profile`);
let sink = 0; // keeps results alive so the loops are not optimized away

function benchHash(): void {
  console.log('\n== hash64');
  const out = new Uint32Array(2);
  const ascii = nsPerOp(KEYS.length, () => {
    for (const k of KEYS) {
      hash64(k, out);
      sink ^= out[1] as number;
    }
  });
  const intl = KEYS.map((k) => `${k}:\u00e9t\u00e9\u65e5\u672c`);
  const mixed = nsPerOp(intl.length, () => {
    for (const k of intl) {
      hash64(k, out);
      sink ^= out[1] as number;
    }
  });
  console.log(`ascii key (~17 chars)          ${fmt(ascii)}`);
  console.log(`key with non-ASCII tail        ${fmt(mixed)}`);
}

function benchRing(): void {
  console.log('\n== ring lookups (per key)');
  console.log('members vnodes  build ms    primary  preferenceInto(3)  isReplica(3)  worst share vs fair');
  for (const members of [3, 10, 50]) {
    for (const vnodes of [128, 512]) {
      const t = process.hrtime.bigint();
      const ring = new Ring(names(members), { vnodes });
      const buildMs = Number(process.hrtime.bigint() - t) / 1e6;
      const out: string[] = [];
      const primary = nsPerOp(KEYS.length, () => {
        for (const k of KEYS) sink ^= ring.primary(k).length;
      });
      const pref = nsPerOp(KEYS.length, () => {
        for (const k of KEYS) sink ^= ring.preferenceInto(k, 3, out);
      });
      const isRep = nsPerOp(KEYS.length, () => {
        for (const k of KEYS) sink ^= ring.isReplica(k, 'kvc-1', 3) ? 1 : 0;
      });
      let worst = 0;
      for (const share of ring.ownership().values()) worst = Math.max(worst, Math.abs(share * members - 1));
      console.log(
        `${String(members).padStart(7)} ${String(vnodes).padStart(6)} ${buildMs.toFixed(1).padStart(9)}  ${fmt(primary)}  ${fmt(pref)}          ${fmt(isRep)}     ${(worst * 100).toFixed(1)}%`,
      );
    }
  }
}

// The alternative design measured against the store: recency kept by the
// Map's insertion order (delete + set on every hit), eviction from the first
// key. Same accounting, no version or TTL logic beyond what the loop needs.
class MapOrderLru {
  private readonly map = new Map<string, { value: Buffer; size: number }>();
  private used = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): Buffer | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }
  set(key: string, value: Buffer): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.used -= old.size;
    }
    const size = entryBytes(key, value);
    while (this.used + size > this.maxBytes) {
      const first = this.map.entries().next();
      if (first.done === true) break;
      this.map.delete(first.value[0]);
      this.used -= first.value[1].size;
    }
    this.map.set(key, { value, size });
    this.used += size;
  }
}

async function countGcs(run: () => void): Promise<number> {
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  run();
  await new Promise((resolve) => setTimeout(resolve, 50)); // GC entries arrive asynchronously
  obs.disconnect();
  return gcs;
}

async function benchStore(): Promise<void> {
  console.log('\n== memory store: 100k keys, 100 B values');
  const value = Buffer.alloc(100, 1);
  const big = 1 << 30;
  const store = new MemoryStore({ maxBytes: big });
  const alt = new MapOrderLru(big);
  let version = 0;
  for (const k of KEYS) {
    store.apply(k, value, ++version, false, 0);
    alt.set(k, value);
  }
  // Reads in a scattered order, so each hit really relinks an entry.
  const order = KEYS.map((_, i) => KEYS[(i * 7919) % KEYS.length] as string);
  const getDll = nsPerOp(order.length, () => {
    for (const k of order) sink ^= store.get(k)?.version ?? 0;
  });
  const getMap = nsPerOp(order.length, () => {
    for (const k of order) sink ^= alt.get(k)?.length ?? 0;
  });
  // Allocation check: count the GCs during 5M gets, next to a control loop
  // that allocates one small object per get.
  const gcsDll = await countGcs(() => {
    for (let r = 0; r < 50; r++) for (const k of order) sink ^= store.get(k)?.version ?? 0;
  });
  const gcsMap = await countGcs(() => {
    for (let r = 0; r < 50; r++) for (const k of order) sink ^= alt.get(k)?.length ?? 0;
  });
  const boxes: Array<{ v: number }> = [];
  const gcsControl = await countGcs(() => {
    for (let r = 0; r < 50; r++) {
      for (const k of order) {
        const box = { v: store.get(k)?.version ?? 0 };
        if ((box.v & 0xffff) === 0) boxes.push(box); // escapes, so it is really allocated
      }
    }
  });
  sink ^= boxes.length;
  console.log(`get (hit)   linked list ${fmt(getDll)}   GCs during 5M gets: ${gcsDll}`);
  console.log(`get (hit)   Map reorder ${fmt(getMap)}   GCs during 5M gets: ${gcsMap}`);
  console.log(`control: 5M gets allocating a 3-word object each: ${gcsControl} GCs`);

  // Writes under pressure: a budget of ~half the keys, so most writes evict.
  const half = (KEYS.length / 2) * entryBytes('user:00000:profile', value);
  const tight = new MemoryStore({ maxBytes: half });
  const tightAlt = new MapOrderLru(half);
  const applyDll = nsPerOp(KEYS.length, () => {
    for (const k of order) tight.apply(k, value, ++version, false, 0);
  });
  const applyMap = nsPerOp(KEYS.length, () => {
    for (const k of order) tightAlt.set(k, value);
  });
  console.log(`apply+evict linked list ${fmt(applyDll)}`);
  console.log(`apply+evict Map reorder ${fmt(applyMap)}   (no version check, so a lower bound)`);
  console.log(`evictions in the linked-list run: ${tight.evictions}`);
}

function benchMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  console.log('\n== memory per entry (200k entries, 16-char keys, half with a TTL)');
  if (gc === undefined) {
    console.log('skipped: run with --expose-gc');
    return;
  }
  const n = 200_000;
  const kinds: Array<[string, (i: number) => Buffer | null]> = [
    ['tombstone', () => null],
    ['100 B pooled', () => Buffer.allocUnsafe(100)],
    ['1000 B pooled', () => Buffer.allocUnsafe(1000)],
    ['100 B own ArrayBuffer', () => Buffer.allocUnsafeSlow(100)],
    ['4096 B own ArrayBuffer', () => Buffer.allocUnsafeSlow(4096)],
  ];
  const measure = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  // One function call per kind, so each store is garbage once it returns.
  const fill = (make: (i: number) => Buffer | null): { raw: number; accounted: number; held: number } => {
    const store = new MemoryStore({ maxBytes: Number.MAX_SAFE_INTEGER });
    let raw = 0;
    for (let i = 0; i < n; i++) {
      const key = `k${i}`.padEnd(16, 'x');
      const v = make(i);
      raw += key.length + (v === null ? 0 : v.length);
      store.apply(key, v, i + 1000, v === null, i % 2 === 1 ? 60_000 : 0);
    }
    return { raw, accounted: store.bytes, held: measure() };
  };
  for (const [label, make] of kinds) {
    const before = measure();
    const { raw, accounted, held } = fill(make);
    const real = (held - before) / n;
    console.log(
      `${label.padEnd(24)} real ${real.toFixed(0).padStart(5)} B  accounted ${(accounted / n).toFixed(0).padStart(5)} B  real overhead beyond key+value ${(real - raw / n).toFixed(0).padStart(4)} B`,
    );
  }
}

async function main(): Promise<void> {
  benchHash();
  benchRing();
  await benchStore();
  benchMemory();
  if (sink === 0.5) console.log(''); // never true; reads sink
}

await main();
