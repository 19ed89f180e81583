// Scenario 4: a rolling update (a new pod annotation in the spec): the pods
// are replaced one at a time while writers and readers run, the writes keep
// succeeding (success rate printed), and the KVCluster is Ready at the end.
import { expect } from '@jest/globals';
import { podReady, type PodView } from '../support/kubectl.js';
import { loadScript, verifyScript, type LoadResult, type VerifyResult } from '../support/load-scripts.js';
import { SERVICE_ADDRESS, getKvc, isReady, nodePods, script, sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

const LOAD_MS = 75_000;
const ROLLOUT_BOUND_MS = 240_000;

interface AnnotatedPod extends PodView {
  metadata: PodView['metadata'] & { annotations?: Record<string, string> };
}

export async function rolloutScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('4 rollout', line);
  const stamp = Date.now().toString(36);
  const prefix = `e2e:rollout:${stamp}`;
  const before = new Map((await nodePods(demo)).map((p) => [p.metadata.name, p.metadata.uid]));
  expect(before.size).toBe(3);

  const load = script(
    demo,
    loadScript({ addresses: [SERVICE_ADDRESS], prefix, durationMs: LOAD_MS, workers: 2, timeoutMs: 3000 }),
    LOAD_MS + 60_000,
  );
  await sleep(2_000);
  const t0 = Date.now();
  await demo.ok([
    'patch',
    'kvc/demo',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { podAnnotations: { 'e2e.kvring.dev/rollout': stamp } } }),
  ]);

  // Sample the pods until every one is new, Ready and annotated: at most one
  // may be missing or not Ready at any sample.
  let maxDown = 0;
  let samples = 0;
  const replaced: string[] = [];
  let done = false;
  while (!done && Date.now() - t0 < ROLLOUT_BOUND_MS) {
    const pods = (await nodePods(demo)) as AnnotatedPod[];
    samples++;
    const ready = pods.filter(podReady);
    maxDown = Math.max(maxDown, 3 - ready.length);
    for (const p of pods)
      if (before.get(p.metadata.name) !== p.metadata.uid && !replaced.includes(p.metadata.name))
        replaced.push(p.metadata.name);
    const kvc = await getKvc(demo);
    done =
      ready.length === 3 &&
      pods.every((p) => p.metadata.annotations?.['e2e.kvring.dev/rollout'] === stamp) &&
      isReady(kvc) &&
      kvc.status?.updatedReplicas === 3;
    if (!done) await sleep(500);
  }
  const rolloutMs = Date.now() - t0;
  expect(done).toBe(true);
  r(
    `rollout of 3 pods in ${(rolloutMs / 1000).toFixed(1)} s, order ${replaced.join(', ')}; ` +
      `at most ${maxDown} pod(s) not Ready at once over ${samples} samples`,
  );

  const res = JSON.parse((await load).stdout) as LoadResult;
  const rate = res.writes === 0 ? 0 : (100 * res.acked.length) / res.writes;
  r(
    `load over ${LOAD_MS / 1000} s: ${res.writes} writes, ${res.acked.length} acknowledged (success rate ` +
      `${rate.toFixed(2)} %), ${res.reads} reads, ${res.readOk} ok, ${res.readWrong} wrong, ${res.readErrors} errors`,
  );
  if (res.firstErrors.length) r(`first errors: ${res.firstErrors.join(' | ')}`);
  const ver = JSON.parse(
    (await script(demo, verifyScript([SERVICE_ADDRESS], prefix, res.acked), 120_000)).stdout,
  ) as VerifyResult;
  r(
    `after the rollout: ${ver.checked} acknowledged keys read, ${ver.missing.length} missing, ${ver.wrong.length} wrong`,
  );

  expect(replaced.sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
  expect(maxDown).toBeLessThanOrEqual(1);
  expect(res.readWrong).toBe(0);
  expect(res.acked.length).toBeGreaterThan(0);
  expect({ missing: ver.missing.slice(0, 20), wrong: ver.wrong.slice(0, 20) }).toEqual({
    missing: [],
    wrong: [],
  });
}
