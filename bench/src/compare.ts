// The side-by-side lines under the figures: kvring through the Pipeline
// client against Redis, op by op (throughput share and server CPU per op).
import type { OpKind } from './load.js';
import { throughputRatios, type FigureRow } from './report.js';

function line(rows: readonly FigureRow[], target: string, reference: string, op: OpKind, note = ''): string {
  const r = throughputRatios(rows, target, reference).find((x) => x.op === op);
  if (r === undefined) return '';
  const cpu = r.cpuRatio === null ? '' : `, ${r.cpuRatio.toFixed(1)}x its server CPU per op`;
  const pg =
    r.cpuRatioWithPostgres !== null && r.cpuRatioWithPostgres - (r.cpuRatio ?? 0) > 0.005
      ? ` (${r.cpuRatioWithPostgres.toFixed(1)}x with PostgreSQL)`
      : '';
  const OP = op.toUpperCase();
  return `${target} ${OP}${note} vs ${reference} ${OP}: ${(r.ratio * 100).toFixed(1)}% of its ops/s${cpu}${pg}`;
}

/** Pipelined GET and SET against Redis with default persistence; durable SET against appendfsync always. */
export function formatComparisons(
  rows: readonly FigureRow[],
  pipelined: string | undefined,
  redisDefault: string | undefined,
  redisAlways: string | undefined,
): string {
  if (pipelined === undefined) return '';
  const lines = [
    redisDefault ? line(rows, pipelined, redisDefault, 'get') : '',
    redisDefault ? line(rows, pipelined, redisDefault, 'set') : '',
    redisAlways ? line(rows, pipelined, redisAlways, 'set', ' (durable: PostgreSQL commit, W=2)') : '',
  ].filter((l) => l !== '');
  return lines.length === 0 ? '' : lines.join('\n');
}
