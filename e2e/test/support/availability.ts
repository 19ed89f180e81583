// What every disruption scenario prints, from the load's record of each
// operation (load-scripts.ts) and the cluster's recovery: success rates
// (succeeded over attempted; in-doubt writes counted apart), p99 latency
// during the disruption, time to full recovery, and time from the last pod
// Ready to the ring converged on every member. The targets are
// printed beside the figures, never asserted: a shared two-core machine
// would make them noise. What the scenarios assert is in `assertSafe` (no
// acknowledged write lost, no stale read) and a loose floor.
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import type { Kubectl, PodView } from './kubectl.js';
import { podReady } from './kubectl.js';
import { OUTCOME, type LoadResult, type VerifyResult } from './load-scripts.js';
import { SERVICE_ADDRESS, cli, nodePods, waitReady } from './kvring.js';

export const TARGET_SUCCESS = 99.9;
export const TARGET_CONVERGED_MS = 5_000;

/** Epoch ms: the disruption's first and last action. */
export interface Window {
  readonly from: number;
  readonly to: number;
}

export interface Availability {
  writes: number;
  writesOk: number;
  inDoubt: number;
  reads: number;
  readsOk: number;
  /** Every operation (writes and reads, hot keys included). */
  successPct: number;
  writeSuccessPct: number;
  readSuccessPct: number;
  /** p99 and p50 latency of the operations that started inside the window, ms. */
  p99Ms: number;
  p50Ms: number;
  /** Ms after the window's end of the last operation that failed (negative: before it ended). */
  lastFailureAfterMs: number | undefined;
}

export function availability(res: LoadResult, w: Window): Availability {
  const count = new Array<number>(5).fill(0);
  const during: number[] = [];
  let lastFailure: number | undefined;
  for (let j = 0; j + 2 < res.ops.length; j += 3) {
    const start = res.t0 + res.ops[j]!;
    const latency = res.ops[j + 1]!;
    const outcome = res.ops[j + 2]!;
    count[outcome]!++;
    if (start >= w.from && start <= w.to) during.push(latency);
    if (outcome !== OUTCOME.writeOk && outcome !== OUTCOME.readOk)
      lastFailure = Math.max(lastFailure ?? start, start + latency);
  }
  const writes = count[OUTCOME.writeOk]! + count[OUTCOME.writeFailed]! + count[OUTCOME.writeInDoubt]!;
  const reads = count[OUTCOME.readOk]! + count[OUTCOME.readFailed]!;
  during.sort((a, b) => a - b);
  const pct = (a: number, b: number): number => (b === 0 ? 100 : (100 * a) / b);
  return {
    writes,
    writesOk: count[OUTCOME.writeOk]!,
    inDoubt: count[OUTCOME.writeInDoubt]!,
    reads,
    readsOk: count[OUTCOME.readOk]!,
    successPct: pct(count[OUTCOME.writeOk]! + count[OUTCOME.readOk]!, writes + reads),
    writeSuccessPct: pct(count[OUTCOME.writeOk]!, writes),
    readSuccessPct: pct(count[OUTCOME.readOk]!, reads),
    p99Ms: quantile(during, 0.99),
    p50Ms: quantile(during, 0.5),
    lastFailureAfterMs: lastFailure === undefined ? undefined : lastFailure - w.to,
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The lines a scenario prints about its load. */
export function describeAvailability(a: Availability, res: LoadResult): string[] {
  const reasons = Object.entries(res.reasons)
    .sort((x, y) => y[1] - x[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `success ${a.successPct.toFixed(2)} % of ${a.writes + a.reads} operations (target ${TARGET_SUCCESS} %): ` +
      `writes ${a.writeSuccessPct.toFixed(2)} % (${a.writesOk}/${a.writes}, ${a.inDoubt} in doubt), ` +
      `reads ${a.readSuccessPct.toFixed(2)} % (${a.readsOk}/${a.reads})`,
    `latency during the disruption: p50 ${a.p50Ms} ms, p99 ${a.p99Ms} ms; ` +
      (a.lastFailureAfterMs === undefined
        ? 'no operation failed'
        : `last failed operation ${(a.lastFailureAfterMs / 1000).toFixed(1)} s after the disruption ended`),
    `checks: ${res.readWrong} wrong or stale reads (${res.backwards} hot-key reads went back)` +
      (reasons ? `; failures by reason: ${reasons}` : ''),
    ...(res.firstErrors.length > 0 ? [`first errors: ${res.firstErrors.join(' | ')}`] : []),
  ];
}

export interface Recovery {
  /** From the disruption's end, ms: the last pod Ready, the KVCluster Ready, the ring converged on every member. */
  podsReadyMs: number;
  kvcReadyMs: number;
  convergedMs: number;
  /** From the last pod's Ready (its condition's lastTransitionTime, whole seconds) to the ring converged, ms. */
  readyToConvergedMs: number;
}

/**
 * Waits (bounded) for `replicas` Ready pods, the KVCluster Ready, and
 * `kvring cluster status --strict` (every member answers, up, one ring
 * hash), polled back to back so the time is close to the event.
 */
export async function measureRecovery(demo: Kubectl, since: number, replicas = 3): Promise<Recovery> {
  const pods = await eventually(
    async () => {
      const ps = await nodePods(demo);
      return ps.length === replicas && ps.every(podReady) ? ps : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 250, what: `the ${replicas} cache pods Ready` },
  );
  const lastReady = Math.max(...pods.map(readySince));
  await waitReady(demo, 180_000);
  const kvcReadyMs = Date.now() - since;
  await eventually(
    async () => {
      const s = await cli(demo, SERVICE_ADDRESS, ['--json', 'cluster', 'status', '--strict']);
      return s.code === 0 && (JSON.parse(s.stdout) as { converged?: boolean }).converged ? s : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 100, what: 'cluster status --strict: every member up, one ring' },
  );
  const convergedAt = Date.now();
  return {
    podsReadyMs: Math.max(0, lastReady - since),
    kvcReadyMs,
    convergedMs: convergedAt - since,
    readyToConvergedMs: convergedAt - lastReady,
  };
}

function readySince(p: PodView): number {
  const c = p.status.conditions?.find((x) => x.type === 'Ready');
  return c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : 0;
}

export function describeRecovery(r: Recovery): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return (
    `recovery after the disruption: pods Ready ${s(r.podsReadyMs)}, KVCluster Ready ${s(r.kvcReadyMs)}, ` +
    `ring converged on every member ${s(r.convergedMs)} (full recovery ${s(Math.max(r.kvcReadyMs, r.convergedMs))}); ` +
    `last pod Ready to ring converged ${s(r.readyToConvergedMs)} (target < ${TARGET_CONVERGED_MS / 1000} s)`
  );
}

/**
 * What every disruption scenario asserts: no acknowledged write lost or
 * wrong, no stale or wrong read, no in-doubt write with a wrong value, no
 * hot key behind what was acknowledged or read, and success above a loose
 * floor (the target is printed, not asserted).
 */
export function assertSafe(res: LoadResult, ver: VerifyResult, a: Availability, floorPct: number): void {
  expect(res.acked.length).toBeGreaterThan(0);
  expect({ readWrong: res.readWrong, first: res.readWrong > 0 ? res.firstErrors : [] }).toEqual({
    readWrong: 0,
    first: [],
  });
  expect({
    missing: ver.missing.slice(0, 20),
    wrong: ver.wrong.slice(0, 20),
    hotBehind: ver.hotBehind,
  }).toEqual({ missing: [], wrong: [], hotBehind: [] });
  expect(a.successPct).toBeGreaterThanOrEqual(floorPct);
}

export function describeVerify(ver: VerifyResult): string {
  return (
    `verify: ${ver.checked} acknowledged keys read back, ${ver.missing.length} missing, ${ver.wrong.length} wrong; ` +
    `in-doubt writes: ${ver.inDoubtApplied} applied, ${ver.inDoubtAbsent} not applied; ` +
    `hot keys behind what was acknowledged or read: ${ver.hotBehind.length}`
  );
}
