// Benchmark figures as a table for people and as JSON for scripts, and the
// median over repeated runs (the machine is shared and noisy: one run is an
// anecdote).
import { cpus, release, type } from 'node:os';
import type { OpKind } from './load.js';
import type { PhaseFigures } from './run.js';
import type { ServerSide } from './server-stats.js';
import { renderTable } from '@kvring/format/table';

export { renderTable };

/** The numbers of one (target, op) row: one run's, or the median of several runs'. */
export interface FigureRow {
  readonly target: string;
  readonly op: OpKind;
  readonly runs: number;
  readonly ok: number;
  readonly errors: number;
  readonly notFound: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly serverCpuMsPerOp: number | null;
  readonly postgresCpuMsPerOp: number | null;
  readonly loadgenCpuMsPerOp: number;
  /** Cores the target's processes kept busy (CPU time over wall time). */
  readonly serverCores: number | null;
  /** Cores the load generator kept busy. */
  readonly loadgenCores: number;
  /** First error message seen (any run). */
  readonly firstError: string | null;
  readonly truncated: boolean;
  /** Memory and batching as the servers reported them (null: not read). */
  readonly server: ServerSide | null;
}

export function rowOf(f: PhaseFigures): FigureRow {
  const r = f.result;
  return {
    target: f.target,
    op: f.op,
    runs: 1,
    ok: r.ok,
    errors: r.errors,
    notFound: r.notFound,
    opsPerSec: r.opsPerSec,
    p50Ms: r.latencyUs.p50 / 1000,
    p95Ms: r.latencyUs.p95 / 1000,
    p99Ms: r.latencyUs.p99 / 1000,
    maxMs: r.latencyUs.max / 1000,
    serverCpuMsPerOp: f.serverCpuMsPerOp ?? null,
    postgresCpuMsPerOp: f.postgresCpuMsPerOp ?? null,
    loadgenCpuMsPerOp: f.loadgenCpuMsPerOp,
    serverCores: f.serverCores ?? null,
    loadgenCores: f.loadgenCores,
    firstError: r.firstError ?? null,
    truncated: r.truncated,
    server: f.server ?? null,
  };
}

/** Median of the numbers (NaN when there are none). */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const present = values.filter((x): x is number => x !== null);
  return present.length === 0 ? null : median(present);
}

/** One row per (target, op) in first-seen order: each figure the median over the runs (counts summed). */
export function medianRows(rows: readonly FigureRow[]): FigureRow[] {
  const groups = new Map<string, FigureRow[]>();
  for (const r of rows) {
    const k = `${r.target}\u0000${r.op}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].map((g) => ({
    target: g[0]!.target,
    op: g[0]!.op,
    runs: g.length,
    ok: g.reduce((s, r) => s + r.ok, 0),
    errors: g.reduce((s, r) => s + r.errors, 0),
    notFound: g.reduce((s, r) => s + r.notFound, 0),
    opsPerSec: median(g.map((r) => r.opsPerSec)),
    p50Ms: median(g.map((r) => r.p50Ms)),
    p95Ms: median(g.map((r) => r.p95Ms)),
    p99Ms: median(g.map((r) => r.p99Ms)),
    maxMs: median(g.map((r) => r.maxMs)),
    serverCpuMsPerOp: medianOrNull(g.map((r) => r.serverCpuMsPerOp)),
    postgresCpuMsPerOp: medianOrNull(g.map((r) => r.postgresCpuMsPerOp)),
    loadgenCpuMsPerOp: median(g.map((r) => r.loadgenCpuMsPerOp)),
    serverCores: medianOrNull(g.map((r) => r.serverCores)),
    loadgenCores: median(g.map((r) => r.loadgenCores)),
    firstError: g.find((r) => r.firstError !== null)?.firstError ?? null,
    truncated: g.some((r) => r.truncated),
    server: medianServerSide(g.map((r) => r.server)),
  }));
}

function medianServerSide(all: ReadonlyArray<ServerSide | null>): ServerSide | null {
  const v = all.filter((x): x is ServerSide => x !== null);
  if (v.length === 0) return null;
  const m = (f: (x: ServerSide) => number | null): number | null => medianOrNull(v.map(f));
  return {
    entriesAdded: median(v.map((x) => x.entriesAdded)),
    rssBytes: m((x) => x.rssBytes),
    rssBytesPerEntry: m((x) => x.rssBytesPerEntry),
    heapBytesPerEntry: m((x) => x.heapBytesPerEntry),
    accountedBytesPerEntry: m((x) => x.accountedBytesPerEntry),
    peerOpsPerFrame: m((x) => x.peerOpsPerFrame),
    postgresWritesPerFlush: m((x) => x.postgresWritesPerFlush),
  };
}

export interface Ratio {
  readonly op: OpKind;
  /** Throughput of `target` over that of `reference` (0..1 usually). */
  readonly ratio: number;
  /** Server CPU per op of `target` over `reference`'s (null when either is unmeasured). */
  readonly cpuRatio: number | null;
  /** The same with the target's PostgreSQL CPU added. */
  readonly cpuRatioWithPostgres: number | null;
}

/** Throughput and CPU per op of `target` against `reference`'s, per op both have. */
export function throughputRatios(rows: readonly FigureRow[], target: string, reference: string): Ratio[] {
  const out: Ratio[] = [];
  for (const r of rows) {
    if (r.target !== target) continue;
    const ref = rows.find((x) => x.target === reference && x.op === r.op);
    if (!ref || !(ref.opsPerSec > 0)) continue;
    const refCpu = ref.serverCpuMsPerOp;
    const measured = r.serverCpuMsPerOp !== null && refCpu !== null && refCpu > 0;
    out.push({
      op: r.op,
      ratio: r.opsPerSec / ref.opsPerSec,
      cpuRatio: measured ? r.serverCpuMsPerOp / refCpu : null,
      cpuRatioWithPostgres: measured ? (r.serverCpuMsPerOp + (r.postgresCpuMsPerOp ?? 0)) / refCpu : null,
    });
  }
  return out;
}

/** The ratio lines under the table. */
export function formatRatios(ratios: readonly Ratio[], target: string, reference: string): string {
  if (ratios.length === 0) return '';
  const rate = ratios.map((x) => `${x.op.toUpperCase()} ${(x.ratio * 100).toFixed(1)}%`).join(', ');
  const lines = [`${target} throughput as a share of the ${reference} server's: ${rate}`];
  const cpu = ratios
    .filter((x) => x.cpuRatio !== null)
    .map((x) => {
      const pg =
        x.cpuRatioWithPostgres! - x.cpuRatio! > 0.005
          ? ` (${x.cpuRatioWithPostgres!.toFixed(1)}x with PostgreSQL)`
          : '';
      return `${x.op.toUpperCase()} ${x.cpuRatio!.toFixed(1)}x${pg}`;
    });
  if (cpu.length > 0)
    lines.push(`${target} server CPU per operation over the ${reference} server's: ${cpu.join(', ')}`);
  return lines.join('\n');
}

const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '-');
const fmtCpu = (n: number | null): string => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(3));
const fmtCores = (n: number | null): string => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(2));

/** The figures table: throughput, latency and CPU per operation. `threads`: of the load generator. */
export function formatFigures(rows: readonly FigureRow[], threads = 1): string {
  const header = [
    'target',
    'op',
    'ops/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'errors',
    'server CPU ms/op',
    'PostgreSQL CPU ms/op',
    'load gen CPU ms/op',
    'server cores',
    'load gen cores',
  ];
  const body = rows.map((r) => [
    r.target,
    r.op.toUpperCase(),
    fmtInt(r.opsPerSec),
    fmtMs(r.p50Ms),
    fmtMs(r.p95Ms),
    fmtMs(r.p99Ms),
    fmtMs(r.maxMs),
    fmtInt(r.errors),
    fmtCpu(r.serverCpuMsPerOp),
    fmtCpu(r.postgresCpuMsPerOp),
    fmtCpu(r.loadgenCpuMsPerOp),
    fmtCores(r.serverCores),
    fmtCores(r.loadgenCores),
  ]);
  const notes: string[] = [];
  for (const r of rows) {
    if (r.firstError)
      notes.push(`${r.target} ${r.op.toUpperCase()}: ${r.errors} errors, first: ${r.firstError}`);
    if (r.notFound > 0)
      notes.push(`${r.target} ${r.op.toUpperCase()}: ${r.notFound} GETs answered not found`);
    if (r.loadgenCores >= 0.85 * threads)
      notes.push(
        `${r.target} ${r.op.toUpperCase()}: the load generator kept ${r.loadgenCores.toFixed(2)} of its ` +
          `${threads} thread(s) busy: this row is bounded by the client (more --threads needs spare cores)`,
      );
    if (r.truncated)
      notes.push(`${r.target} ${r.op.toUpperCase()}: stopped early (time bound, errors or Ctrl-C)`);
  }
  return [renderTable(header, body), ...notes].join('\n');
}

/** A line naming the machine, for figures quoted elsewhere. */
export function machineLine(): string {
  const c = cpus();
  const model = c[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${c.length} CPUs (${model}), ${type()} ${release()}, Node ${process.version}`;
}
