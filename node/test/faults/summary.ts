// The figures of a scenario (written as NAME.summary.json beside its
// history) and of a whole run (the table printed at the end and written to
// summary.json and summary.md).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from './checker.js';
import type { Crash } from './fault-node.js';
import type { FaultFigures } from './faults.js';
import type { PorcupineReport } from './porcupine.js';
import type { OpCounts } from './workload.js';

export interface ScenarioSummary {
  readonly scenario: string;
  readonly description: string;
  readonly short: boolean;
  /** A control scenario: it breaks the data on purpose, and passes when the checkers catch it. */
  readonly expectViolations: boolean;
  /** A detection scenario (PostgreSQL loses commits): passes when regressions are reported, nothing stale served. */
  readonly detectsRegressions: boolean;
  /** kvring_version_regressions_total summed over nodes and restarts. */
  readonly versionRegressions: number;
  /** Requests that failed with VERSION_REGRESSION. */
  readonly regressionErrors: number;
  readonly wallMs: number;
  readonly faultMs: number;
  readonly ops: OpCounts;
  readonly byKind: Record<string, OpCounts>;
  readonly readThroughHits: number;
  readonly check: CheckResult;
  readonly porcupine: PorcupineReport | undefined;
  /** Keys some replica held at another version than PostgreSQL once faults and load stopped. */
  readonly divergentAtHeal: number;
  /** Until no replica differed from PostgreSQL (null: not within the bound). */
  readonly convergeMs: number | null;
  /** Keys still divergent when the convergence bound ran out (0 when converged). */
  readonly divergentAfterBound: number;
  /** The bound: the nodes' anti-entropy interval + 10 s. */
  readonly convergeBoundMs: number;
  /** kvring_evictions_total by node, summed over restarts. */
  readonly evictions: Record<string, number>;
  /** Filler writes acknowledged beside the workload (what keeps the nodes evicting). */
  readonly fillerWrites: number;
  /** Operations of the history sent through the Pipeline clients. */
  readonly pipelined?: OpCounts;
  readonly faults: FaultFigures;
  readonly peakHints: number;
  readonly crashes: Crash[];
  readonly finalReadErrors: number;
  readonly extra: Record<string, number | string>;
  readonly files: { history: string; logs: string };
  readonly error?: string;
}

/** Scenarios in the order the table lists them. */
export const SCENARIO_ORDER = [
  'kill',
  'pause',
  'partition-peers',
  'flaky-network',
  'partition-postgres',
  'postgres-restart',
  'legacy',
  'clock-skew',
  'full-restart',
  'node-down',
  'mixed',
  'eviction-flaky',
  'ttl-heal',
  'drain',
  'membership',
  'postgres-rollback',
  'control-rollback',
  'control-stale',
  'control-lost',
];

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The summaries in `dir` written at or after `sinceMs` (epoch ms). */
export function readSummaries(dir: string, sinceMs = 0): ScenarioSummary[] {
  const out: ScenarioSummary[] = [];
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir))
    if (f.endsWith('.summary.json') && statSync(join(dir, f)).mtimeMs >= sinceMs)
      out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioSummary);
  const rank = (s: ScenarioSummary): number => {
    const i = SCENARIO_ORDER.indexOf(s.scenario);
    return i < 0 ? SCENARIO_ORDER.length : i;
  };
  return out.sort((a, b) => rank(a) - rank(b) || a.scenario.localeCompare(b.scenario));
}

const anomalies = (c: CheckResult): number =>
  c.phantomValues +
  c.failedWritesVisible +
  c.versionConflicts +
  c.finalReadMismatches +
  c.deletesLost +
  c.ttlExpiredServed;

/** For a control scenario: both checkers saw the data it broke. */
export function caught(s: ScenarioSummary): boolean {
  const c = s.check;
  return s.porcupine?.verdict === 'not linearizable' && c.lost + c.staleReads + anomalies(c) > 0;
}

export function totalEvictions(s: ScenarioSummary): number {
  return Object.values(s.evictions ?? {}).reduce((a, b) => a + b, 0);
}

/**
 * A detection scenario: the regression was reported (metric or error) and
 * nothing stale or conflicting was served (lost writes are what the fault
 * did, not a finding).
 */
export function detected(s: ScenarioSummary): boolean {
  const c = s.check;
  return (
    !s.error &&
    s.versionRegressions + s.regressionErrors > 0 &&
    c.staleReads + c.versionConflicts + c.phantomValues + c.failedWritesVisible + c.ttlExpiredServed === 0 &&
    s.porcupine?.verdict === 'linearizable'
  );
}

export function verdictOf(s: ScenarioSummary): 'pass' | 'caught' | 'detected' | 'FAIL' | 'MISSED' {
  const c = s.check;
  if (s.expectViolations) return !s.error && caught(s) ? 'caught' : 'MISSED';
  if (s.detectsRegressions) return detected(s) ? 'detected' : 'MISSED';
  return !s.error &&
    c.lost === 0 &&
    c.staleReads === 0 &&
    anomalies(c) === 0 &&
    s.porcupine?.verdict === 'linearizable' &&
    s.convergeMs !== null &&
    totalEvictions(s) > 0 &&
    s.crashes.length === 0 &&
    s.finalReadErrors === 0 &&
    (s.faults.broken ?? []).length === 0
    ? 'pass'
    : 'FAIL';
}

interface Row {
  readonly cells: string[];
}

function rowOf(s: ScenarioSummary): Row {
  const d = s.faults.detectMs;
  const det = d.length === 0 ? '-' : `${median(d)} / ${Math.max(...d)}`;
  return {
    cells: [
      s.scenario,
      String(s.faults.faults),
      String(s.ops.attempted),
      String(s.ops.ok),
      String(s.ops.failed),
      String(s.ops.inDoubt),
      String(totalEvictions(s)),
      String(s.check.lost),
      String(s.check.staleReads),
      String(anomalies(s.check)),
      s.porcupine ? s.porcupine.verdict : 'not run',
      `${s.divergentAtHeal} / ${s.convergeMs === null ? `${s.divergentAfterBound} after ${s.convergeBoundMs} ms` : `0 in ${s.convergeMs} ms`}`,
      det,
      String(s.peakHints),
      String(s.crashes.length),
      `${Math.round(s.wallMs / 1000)} s`,
      verdictOf(s),
    ],
  };
}

const HEADER = [
  'scenario',
  'faults',
  'ops',
  'ok',
  'failed',
  'in doubt',
  'evictions',
  'lost',
  'stale',
  'other anomalies',
  'Porcupine',
  'divergent keys at heal / at the bound',
  'detect ms (median / max)',
  'peak hints',
  'crashes',
  'wall',
  'verdict',
];

function extras(summaries: readonly ScenarioSummary[]): string[] {
  const lines: string[] = [];
  for (const s of summaries) {
    const ev = Object.entries(s.evictions ?? {})
      .map(([n, v]) => `${n} ${v}`)
      .join(', ');
    lines.push(`${s.scenario}: evictions by node = ${ev}; filler writes = ${s.fillerWrites}`);
    if (s.pipelined)
      lines.push(
        `${s.scenario}: through the Pipeline client: ${s.pipelined.attempted} operations, ${s.pipelined.ok} ok, ` +
          `${s.pipelined.failed} failed, ${s.pipelined.inDoubt} in doubt`,
      );
    if (s.detectsRegressions)
      lines.push(
        `${s.scenario}: version regressions reported = ${s.versionRegressions} (metric), ${s.regressionErrors} (errors)`,
      );
    for (const [k, v] of Object.entries(s.extra)) lines.push(`${s.scenario}: ${k} = ${v}`);
  }
  return lines;
}

export function formatText(summaries: readonly ScenarioSummary[]): string {
  const rows = [HEADER, ...summaries.map((s) => rowOf(s).cells)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const out = [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)];
  out.push('', ...extras(summaries));
  for (const s of summaries) {
    if (s.error) out.push(`${s.scenario}: ERROR ${s.error}`);
    for (const b of s.faults.broken ?? []) out.push(`${s.scenario}: BROKEN ${b}`);
    for (const e of s.check.examples.slice(0, 5)) out.push(`${s.scenario}: ${e}`);
    for (const v of s.porcupine?.visualizations ?? [])
      out.push(`${s.scenario}: Porcupine visualization ${v}`);
    for (const c of s.crashes) out.push(`${s.scenario}: CRASH ${c.node} code ${c.code} signal ${c.signal}`);
  }
  return out.join('\n');
}

export function formatMarkdown(summaries: readonly ScenarioSummary[]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const out = [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...summaries.map((s) => `| ${rowOf(s).cells.map(esc).join(' | ')} |`),
  ];
  const ex = extras(summaries);
  if (ex.length > 0) out.push('', ...ex.map((l) => `- ${l}`));
  return out.join('\n');
}

/**
 * Writes the run's figures so far (the scenarios written since `sinceMs`)
 * as summary.json, summary.md and summary.txt; every scenario calls it when
 * it ends, so the files always hold the whole run (scripts/faults.sh prints
 * summary.txt at the end).
 */
export function writeRunReport(dir: string, sinceMs = 0): ScenarioSummary[] {
  const summaries = readSummaries(dir, sinceMs);
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ scenarios: summaries }, null, 2));
  writeFileSync(join(dir, 'summary.md'), `${formatMarkdown(summaries)}\n`);
  writeFileSync(join(dir, 'summary.txt'), `${formatText(summaries)}\n`);
  return summaries;
}
