// The server-side table under the figures: what each target's servers held
// and how kvring batched, per phase (server-stats.ts reads it), and the
// memory comparison with Redis.
import { renderTable } from '@kvring/format/table';
import type { FigureRow } from './report.js';

const fmt = (n: number | null, digits = 0): string =>
  n === null || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits });
const mib = (n: number | null): string => (n === null ? '-' : (n / 1024 / 1024).toFixed(1));

export function formatServerSide(rows: readonly FigureRow[]): string {
  const withStats = rows.filter((r) => r.server !== null);
  if (withStats.length === 0) return '';
  const header = [
    'target',
    'op',
    'entries added',
    'RSS MiB',
    'RSS B/entry',
    'heap B/entry',
    'accounted B/entry',
    'peer ops/frame',
    'PG writes/flush',
  ];
  const body = withStats.map((r) => {
    const s = r.server!;
    return [
      r.target,
      r.op.toUpperCase(),
      fmt(s.entriesAdded),
      mib(s.rssBytes),
      fmt(s.rssBytesPerEntry),
      fmt(s.heapBytesPerEntry),
      fmt(s.accountedBytesPerEntry),
      fmt(s.peerOpsPerFrame, 1),
      fmt(s.postgresWritesPerFlush, 1),
    ];
  });
  return [
    renderTable(header, body),
    'Memory of one server: kvring its first node (one replica of every key with N=3 on 3 nodes), ' +
      'Redis its server. B/entry: growth over the phase divided by the entries it added ' +
      '(a SET phase of fresh keys); heap: V8 heap in use (garbage not yet collected included); accounted: ' +
      "what the store counts (kvring_cache_bytes; Redis's used_memory_dataset). peer ops/frame: replication operations per frame between nodes; PG writes/flush: writes per PostgreSQL group commit.",
  ].join('\n');
}

/** kvring's bytes per entry (RSS growth of one node) over Redis's used_memory_dataset per key, SET phases. */
export function formatMemoryRatio(
  rows: readonly FigureRow[],
  kvring: string,
  redis: string | undefined,
): string {
  if (redis === undefined) return '';
  const k = rows.find((r) => r.target === kvring && r.op === 'set')?.server;
  const r = rows.find((x) => x.target === redis && x.op === 'set')?.server;
  const ref = r?.accountedBytesPerEntry ?? null;
  if (!k || ref === null || !(ref > 0)) return '';
  const x = (v: number | null): string => (v === null ? '-' : `${(v / ref).toFixed(2)}x`);
  return (
    `memory per entry, one kvring node against Redis's used_memory_dataset per key (${fmt(ref)} B): ` +
    `RSS growth ${fmt(k.rssBytesPerEntry)} B (${x(k.rssBytesPerEntry)}), heap growth ${fmt(k.heapBytesPerEntry)} B ` +
    `(${x(k.heapBytesPerEntry)}), accounted ${fmt(k.accountedBytesPerEntry)} B (${x(k.accountedBytesPerEntry)})`
  );
}
