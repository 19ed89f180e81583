// Scenario 11: every cache pod evicted through the Eviction API, one after
// another, under load: what `kubectl drain` does to each pod of a node (the
// local cluster has one node, so a real drain would cordon the only place
// the replacement can run). The PodDisruptionBudget decides when each
// eviction may go: a refusal (429) while the previous pod is not back is
// retried, as kubectl drain retries it. Figures and checks: disruption.ts.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { podReady } from '../support/kubectl.js';
import { DEMO_NS, nodePods } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';
import { underLoad } from './disruption.js';

const PODS = ['demo-0', 'demo-1', 'demo-2'];

export async function evictScenario(c: ScenarioContext): Promise<void> {
  const label = '11 eviction';
  const lines: string[] = [];
  await underLoad(c, { label, loadMs: 100_000, workers: 2, floorPct: 95 }, async () => {
    for (const pod of PODS) {
      const before = (await nodePods(c.demo)).find((p) => p.metadata.name === pod)?.metadata.uid;
      const t0 = Date.now();
      const refusals = await evict(c, pod);
      await eventually(
        async () => {
          const p = (await nodePods(c.demo)).find((x) => x.metadata.name === pod);
          return p !== undefined && p.metadata.uid !== before && podReady(p) ? p : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 250, what: `${pod} evicted, replaced and Ready` },
      );
      lines.push(
        `${pod}: evicted after ${refusals} refusal(s) by the PDB, replaced and Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
  });
  for (const l of lines) c.report(label, l);
  expect(lines).toHaveLength(PODS.length);
}

/** POSTs an Eviction for `pod`, retrying while the PDB refuses it; returns the refusals. */
async function evict(c: ScenarioContext, pod: string): Promise<number> {
  const body = join(tmpdir(), `kvring-e2e-eviction-${pod}.json`);
  writeFileSync(
    body,
    JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod, namespace: DEMO_NS },
    }),
  );
  let refusals = 0;
  await eventually(
    async () => {
      const res = await c.demo.run([
        'create',
        '--raw',
        `/api/v1/namespaces/${DEMO_NS}/pods/${pod}/eviction`,
        '-f',
        body,
      ]);
      if (res.code === 0) return true;
      // 429: "Cannot evict pod as it would violate the pod's disruption budget."
      if (/TooManyRequests|disruption budget/i.test(res.stderr)) {
        refusals++;
        return undefined;
      }
      throw new Error(res.stderr.trim());
    },
    { timeoutMs: 180_000, intervalMs: 1000, what: `the eviction of ${pod} to be accepted` },
  );
  return refusals;
}
