// One disruption under load, the way every disruption scenario measures it:
// the load runs through the Kubernetes-aware client given the headless
// Service's name (as an application in the cluster would use it), the
// disruption runs, recovery is timed from its end while the load's tail
// still runs, then everything acknowledged (and everything in doubt) is read
// back. Prints the figures (support/availability.ts) and asserts safety and
// a loose floor.
import { expect } from '@jest/globals';
import {
  assertSafe,
  availability,
  describeAvailability,
  describeRecovery,
  describeVerify,
  measureRecovery,
  type Availability,
  type Recovery,
} from '../support/availability.js';
import { loadScript, verifyScript, type LoadResult, type VerifyResult } from '../support/load-scripts.js';
import { HEADLESS_ADDRESS, script, sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

export interface DisruptionOptions {
  /** Scenario label in the printed lines, e.g. '2 pod-kill'. */
  readonly label: string;
  /** How long the load runs; it should outlast the disruption by a few seconds. */
  readonly loadMs: number;
  readonly workers: number;
  /** Success floor asserted, in % of operations (the 99.9 % target is printed). */
  readonly floorPct: number;
  /** Pods once it is over (default 3). */
  readonly replicas?: number;
}

export interface DisruptionOutcome {
  res: LoadResult;
  ver: VerifyResult;
  a: Availability;
  rec: Recovery;
}

export const HEADLESS = [HEADLESS_ADDRESS];

/** Runs `disrupt` under load; resolves after recovery and the read-back, figures printed, safety asserted. */
export async function underLoad(
  c: ScenarioContext,
  o: DisruptionOptions,
  disrupt: () => Promise<void>,
): Promise<DisruptionOutcome> {
  const r = (line: string) => c.report(o.label, line);
  const prefix = `e2e:${o.label.replace(/\W+/g, '-')}:${Date.now().toString(36)}`;
  const load = script(
    c.demo,
    loadScript({ addresses: HEADLESS, prefix, durationMs: o.loadMs, workers: o.workers, timeoutMs: 3000 }),
    o.loadMs + 120_000,
  );
  // The client has resolved the pods and learnt the ring before the first blow.
  await sleep(3_000);
  const from = Date.now();
  await disrupt();
  const to = Date.now();
  const [out, rec] = await Promise.all([load, measureRecovery(c.demo, to, o.replicas ?? 3)]);
  if (out.code !== 0) throw new Error(`the load failed (exit ${out.code}): ${out.stderr.slice(0, 2000)}`);
  const res = JSON.parse(out.stdout) as LoadResult;
  const a = availability(res, { from, to });
  r(
    `disruption ${((to - from) / 1000).toFixed(1)} s under a load of ${o.workers} writers and ${o.workers} readers through ${HEADLESS[0]}`,
  );
  for (const line of describeAvailability(a, res)) r(line);
  r(describeRecovery(rec));
  const v = await script(c.demo, verifyScript(HEADLESS, prefix, res.acked, res), 180_000);
  expect(v.code).toBe(0);
  const ver = JSON.parse(v.stdout) as VerifyResult;
  r(describeVerify(ver));
  assertSafe(res, ver, a, o.floorPct);
  return { res, ver, a, rec };
}
