// What the servers say about themselves around a phase: entries held and
// memory (for bytes per entry beside Redis's), and how well kvring batches
// (peer operations per replication frame, writes per PostgreSQL flush), read
// from each node's Prometheus endpoint and Redis's INFO.
import { readFileSync } from 'node:fs';

export interface ServerStats {
  /** Entries the measured server holds (kvring: the first node, one replica's copy; Redis: DBSIZE). */
  readonly entries: number;
  /** Its resident set (/proc/PID/status VmRSS). */
  readonly rssBytes: number | undefined;
  /** V8 heap in use (kvring only). */
  readonly heapBytes?: number | undefined;
  /** What the store counts as held: kvring_cache_bytes (keys, values, per-entry overhead), Redis's used_memory_dataset. */
  readonly accountedBytes: number | undefined;
  /** Sums and counts of the batching histograms over every node (kvring only). */
  readonly peerFrameOps?: { sum: number; count: number };
  readonly postgresBatch?: { sum: number; count: number };
}

export interface StatsSource {
  read(): Promise<ServerStats>;
}

/** VmRSS of a process in bytes, undefined when /proc cannot say. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The value of an unlabelled sample `name` in Prometheus text, summed over label sets when labelled. */
export function metricValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`${url}/metrics answered ${res.status}`);
  return res.text();
}

function histogram(texts: readonly string[], name: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const t of texts) {
    sum += metricValue(t, `${name}_sum`) ?? 0;
    count += metricValue(t, `${name}_count`) ?? 0;
  }
  return { sum, count };
}

/** kvring nodes: memory of the first (`pids[0]`, `httpUrls[0]`), batching over all. */
export function kvringStats(httpUrls: readonly string[], pids: readonly number[]): StatsSource {
  return {
    async read() {
      const texts = await Promise.all(httpUrls.map(scrape));
      const first = texts[0] ?? '';
      return {
        entries: metricValue(first, 'kvring_cache_entries') ?? 0,
        rssBytes: pids[0] === undefined ? undefined : rssOf(pids[0]),
        heapBytes: metricValue(first, 'kvring_nodejs_heap_size_used_bytes'),
        accountedBytes: metricValue(first, 'kvring_cache_bytes'),
        peerFrameOps: histogram(texts, 'kvring_peer_frame_operations'),
        postgresBatch: histogram(texts, 'kvring_postgres_batch_size'),
      };
    },
  };
}

/** Lines `field:value` of Redis's INFO as numbers. */
export function redisInfoField(info: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
}

/** Redis: DBSIZE, used_memory_dataset and the server's RSS. */
export function redisStats(address: string, pid: number): StatsSource {
  const i = address.lastIndexOf(':');
  return {
    async read() {
      // ioredis is a devDependency of the bench (see clients.ts): loaded on use.
      const { Redis } = await import('ioredis');
      const r = new Redis({
        host: address.slice(0, i),
        port: Number(address.slice(i + 1)),
        lazyConnect: true,
      });
      try {
        await r.connect();
        const [info, entries] = await Promise.all([r.info('memory'), r.dbsize()]);
        return { entries, rssBytes: rssOf(pid), accountedBytes: redisInfoField(info, 'used_memory_dataset') };
      } finally {
        r.disconnect();
      }
    },
  };
}

/** What a phase did to the server, from readings before and after it. */
export interface ServerSide {
  /** Entries the measured server gained (a SET phase of fresh keys: one per key it holds a copy of). */
  readonly entriesAdded: number;
  readonly rssBytes: number | null;
  readonly rssBytesPerEntry: number | null;
  readonly heapBytesPerEntry: number | null;
  readonly accountedBytesPerEntry: number | null;
  readonly peerOpsPerFrame: number | null;
  readonly postgresWritesPerFlush: number | null;
}

function per(a: number | undefined, b: number | undefined, n: number): number | null {
  return a === undefined || b === undefined || n <= 0 ? null : (b - a) / n;
}

function mean(a?: { sum: number; count: number }, b?: { sum: number; count: number }): number | null {
  if (a === undefined || b === undefined || b.count <= a.count) return null;
  return (b.sum - a.sum) / (b.count - a.count);
}

export function serverSide(before: ServerStats, after: ServerStats): ServerSide {
  const added = after.entries - before.entries;
  return {
    entriesAdded: added,
    rssBytes: after.rssBytes ?? null,
    rssBytesPerEntry: per(before.rssBytes, after.rssBytes, added),
    heapBytesPerEntry: per(before.heapBytes, after.heapBytes, added),
    accountedBytesPerEntry: per(before.accountedBytes, after.accountedBytes, added),
    peerOpsPerFrame: mean(before.peerFrameOps, after.peerFrameOps),
    postgresWritesPerFlush: mean(before.postgresBatch, after.postgresBatch),
  };
}
