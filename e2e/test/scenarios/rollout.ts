// Scenario 4: a rolling update (a new pod annotation in the spec): the pods
// are replaced one at a time while writers and readers run through the
// client given the headless Service; operations keep succeeding (figures:
// disruption.ts), and the KVCluster is Ready at the end.
import { expect } from '@jest/globals';
import { podReady, type PodView } from '../support/kubectl.js';
import { getKvc, isReady, nodePods, sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';
import { underLoad } from './disruption.js';

const LOAD_MS = 75_000;
const ROLLOUT_BOUND_MS = 240_000;

interface AnnotatedPod extends PodView {
  metadata: PodView['metadata'] & { annotations?: Record<string, string> };
}

export async function rolloutScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const label = '4 rollout';
  const stamp = Date.now().toString(36);
  const before = new Map((await nodePods(demo)).map((p) => [p.metadata.name, p.metadata.uid]));
  expect(before.size).toBe(3);

  let maxDown = 0;
  let samples = 0;
  const replaced: string[] = [];
  let done = false;
  await underLoad(c, { label, loadMs: LOAD_MS, workers: 2, floorPct: 95 }, async () => {
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
    c.report(
      label,
      `rollout of 3 pods in ${((Date.now() - t0) / 1000).toFixed(1)} s, order ${replaced.join(', ')}; ` +
        `at most ${maxDown} pod(s) not Ready at once over ${samples} samples`,
    );
  });
  expect(done).toBe(true);
  expect(replaced.sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
  expect(maxDown).toBeLessThanOrEqual(1);
}
