// Runs one scenario: a fresh environment, the workload, the faults for a
// bounded time; at the heal the load stops and replicas are compared with
// PostgreSQL until they converge; then load again for a few seconds, a
// final read of every key, our checker and Porcupine. Writes NAME.history.jsonl, NAME.summary.json,
// NAME/ (node logs) and any Porcupine visualization into the run directory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check } from './checker.js';
import { finalReads } from './final-reads.js';
import { converge, pgRows } from './convergence.js';
import { FAULT_NODE_ENV, startFaultEnv, type FaultEnv, type FaultEnvOptions } from './env.js';
import { healEverything, newFigures, sleep, type FaultContext, type FaultFigures } from './faults.js';
import { HistoryRecorder } from './history.js';
import { porcupineBinary, runPorcupine, type PorcupineReport } from './porcupine.js';
import { SETTINGS } from '../../src/config/settings.js';
import { parseDurationMs } from '@kvring/format/units';
import { EVICTIONS, MetricsSampler, VERSION_REGRESSIONS, waitMembersUp } from './probes.js';
import type { ScenarioSummary } from './summary.js';
import { DEFAULT_WORKLOAD, rng, Workload, type WorkloadOptions } from './workload.js';

/** Errors clients saw for a version regression: the history names each error by its reason first (classify.ts). */
const REGRESSION_ERROR = /^VERSION_REGRESSION: /;

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SHORT = process.env.KVRING_FAULTS_SHORT === '1';

export function runDir(): string {
  return process.env.KVRING_FAULTS_DIR ?? join(ROOT, '.cache', 'faults', 'last');
}

export function registryDir(): string {
  return join(ROOT, '.cache', 'faults', 'leftovers');
}

export interface ScenarioSpec {
  readonly name: string;
  readonly description: string;
  /** How long faults are injected (the workload runs throughout). */
  readonly faultMs: number;
  readonly faketime?: Readonly<Record<number, string>>;
  readonly nodeEnv?: Record<string, string>;
  /** Settings of single nodes, by index (e.g. the stale-read control's misconfigured node). */
  readonly perNodeEnv?: Readonly<Record<number, Record<string, string>>>;
  /**
   * Anti-entropy at the node's default interval (30 s) instead of the
   * suite's 1 s, which repairs every window before a read can meet it.
   * The convergence bound follows: the interval + 10 s.
   */
  readonly defaultAntiEntropy?: boolean;
  /** Nodes beyond the three that start as standby (FaultEnvOptions.standby): a scale-up adds them. */
  readonly standby?: number;
  /** Membership from DNS instead of a static list (FaultEnvOptions.dns). */
  readonly dns?: FaultEnvOptions['dns'];
  /** FaultEnvOptions.startSpreadMs: node starts spread over this many ms. */
  readonly startSpreadMs?: number;
  readonly workload?: Partial<WorkloadOptions>;
  /** Injects faults until ctx.deadline; must leave everything healed. */
  readonly faults: (ctx: FaultContext) => Promise<void>;
  /** Runs once the faults are healed, before the quiet spell (e.g. waits for a recovery); fills `extra`. */
  readonly afterHeal?: (env: FaultEnv, extra: Record<string, number | string>) => Promise<void>;
  /** Runs beside the faults (e.g. an availability probe); fills `extra`. */
  readonly during?: (ctx: FaultContext, extra: Record<string, number | string>) => Promise<void>;
  /** A control: the faults break the data on purpose; the test passes when both checkers notice. */
  readonly expectViolations?: boolean;
  /** A control's count that must be above 0 (what it breaks). */
  readonly mustReport?: 'staleReads' | 'lost';
  /**
   * A detection scenario: the fault loses data the cluster cannot get back
   * (PostgreSQL's last commits); it passes when the nodes report the
   * regression and serve nothing stale silently (lost writes are expected).
   */
  readonly detectsRegressions?: boolean;
  /** Runs after the checks on the healed cluster (e.g. the herd); fills `extra`. */
  readonly after?: (env: FaultEnv, extra: Record<string, number | string>) => Promise<void>;
}

/** Load runs again this long after the heal and convergence, so reads right after them are checked too. */
const AFTER_HEAL_MS = 3_000;
/** After the heal, replicas must match PostgreSQL within one anti-entropy interval and this. */
const CONVERGE_SLACK_MS = 10_000;
const FAST_ANTI_ENTROPY_MS = parseDurationMs(FAULT_NODE_ENV.KVRING_ANTI_ENTROPY_INTERVAL!)!;
export const DEFAULT_ANTI_ENTROPY_MS = parseDurationMs(
  SETTINGS.find((x) => x.env === 'KVRING_ANTI_ENTROPY_INTERVAL')!.default,
)!;

export async function runScenario(spec: ScenarioSpec): Promise<ScenarioSummary> {
  const t0 = performance.now();
  const dir = runDir();
  const logs = join(dir, spec.name);
  mkdirSync(logs, { recursive: true });
  const historyFile = join(dir, `${spec.name}.history.jsonl`);
  const history = new HistoryRecorder(historyFile);
  const extra: Record<string, number | string> = {};
  const figures: FaultFigures = newFigures();
  let env: FaultEnv | undefined;
  let workload: Workload | undefined;
  let sampler: MetricsSampler | undefined;
  let divergentAtHeal = -1;
  let divergentAfterBound = -1;
  const aeMs = spec.defaultAntiEntropy ? DEFAULT_ANTI_ENTROPY_MS : FAST_ANTI_ENTROPY_MS;
  const convergeBoundMs = aeMs + CONVERGE_SLACK_MS;
  let convergeMs: number | null = null;
  let finalReadErrors = 0;
  let porcupine: PorcupineReport | undefined;
  let error: string | undefined;
  let checked: ReturnType<typeof check> | undefined;
  try {
    env = await startFaultEnv({
      logDir: logs,
      registryDir: registryDir(),
      nodeEnv: { KVRING_ANTI_ENTROPY_INTERVAL: `${aeMs}ms`, ...spec.nodeEnv },
      ...(spec.perNodeEnv ? { perNodeEnv: spec.perNodeEnv } : {}),
      ...(spec.faketime ? { faketime: spec.faketime } : {}),
      ...(spec.standby !== undefined ? { standby: spec.standby } : {}),
      ...(spec.dns ? { dns: spec.dns } : {}),
      ...(spec.startSpreadMs !== undefined ? { startSpreadMs: spec.startSpreadMs } : {}),
    });
    const seed = Number(process.env.KVRING_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    extra.seed = seed;
    workload = new Workload(env.nodes, history, { ...DEFAULT_WORKLOAD, seed, ...spec.workload });
    sampler = new MetricsSampler(env.nodes);
    sampler.start();
    workload.start();
    const ctx: FaultContext = {
      env,
      history,
      workload,
      deadline: performance.now() + spec.faultMs,
      random: rng(seed ^ 0x5eed),
      figures,
      extra,
    };
    try {
      await Promise.all([spec.faults(ctx), spec.during?.(ctx, extra)]);
    } finally {
      await healEverything(env);
    }
    // Faults healed: the load stops too, so that what replicas still lack is
    // what the faults left behind, and the time until they all match
    // PostgreSQL is repair time (hints, anti-entropy), not write traffic.
    await workload.stop();
    const conv = await converge(env, convergeBoundMs);
    divergentAtHeal = conv.first;
    divergentAfterBound = conv.last;
    convergeMs = conv.ms;
    if (conv.examples.length > 0) extra.divergentExamples = conv.examples.join('; ');
    if (spec.afterHeal) await spec.afterHeal(env, extra);
    await waitMembersUp(env.nodes);
    // Then load again for a while: reads and writes right after a heal are
    // where stale replicas would show.
    workload.start();
    await sleep(AFTER_HEAL_MS);
    await workload.stop();
    await sampler.sample();
    sampler.stop();

    const finals = await finalReads(env.nodes, history);
    finalReadErrors = finals.errors;
    const rows = await pgRows(env);
    await history.close();
    checked = check({ events: history.events, rows, finalReads: finals.reads });
    porcupine = await runPorcupine(porcupineBinary(ROOT), historyFile, dir, spec.name);
    if (spec.after) await spec.after(env, extra);
  } catch (err) {
    error = (err as Error).stack ?? String(err);
  } finally {
    sampler?.stop();
    if (workload) {
      await workload.stop().catch(() => undefined);
      workload.close();
    }
    await history.close().catch(() => undefined);
    if (env) await env.stop().catch((e: Error) => (error ??= e.message));
  }
  const counts = workload?.counts;
  const summary: ScenarioSummary = {
    scenario: spec.name,
    description: spec.description,
    short: SHORT,
    expectViolations: spec.expectViolations ?? false,
    detectsRegressions: spec.detectsRegressions ?? false,
    wallMs: Math.round(performance.now() - t0),
    faultMs: spec.faultMs,
    ops: counts?.total ?? { attempted: 0, ok: 0, failed: 0, inDoubt: 0 },
    byKind: counts?.byKind ?? {},
    readThroughHits: counts?.readThroughHits ?? 0,
    check: checked ?? check({ events: [], rows: new Map(), finalReads: new Map() }),
    porcupine,
    divergentAtHeal,
    convergeMs,
    faults: figures,
    peakHints: sampler?.peakHints ?? 0,
    evictions: sampler?.counted(EVICTIONS) ?? {},
    versionRegressions: Object.values(sampler?.counted(VERSION_REGRESSIONS) ?? {}).reduce((a, b) => a + b, 0),
    regressionErrors: history.events.filter((e) => 'error' in e && REGRESSION_ERROR.test(e.error ?? ''))
      .length,
    fillerWrites: counts?.fillerWrites ?? 0,
    pipelined: counts?.pipelined,
    divergentAfterBound,
    convergeBoundMs,
    crashes: env?.nodes.flatMap((n) => n.crashes) ?? [],
    finalReadErrors,
    extra,
    files: { history: historyFile, logs },
    ...(error !== undefined ? { error } : {}),
  };
  writeFileSync(join(dir, `${spec.name}.summary.json`), JSON.stringify(summary, null, 2));
  return summary;
}
