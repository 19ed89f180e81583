// Scenario 13: mixed versions on the real cluster. The KVCluster rolls from
// this checkout's node image back to the image of the baseline commit (a
// rollback), then forward again (an upgrade), each rollout under load:
// writers overwrite hot keys (a read must never go back) and every
// acknowledged key is read back afterwards. The baseline image comes from
// scripts/old-version/image.sh; without its archive the scenario says so
// and checks nothing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { REPO_ROOT } from '@kvring/control-plane';
import { podReady, type PodView } from '../support/kubectl.js';
import { loadScript, verifyScript, type LoadResult, type VerifyResult } from '../support/load-scripts.js';
import { NODE_IMAGE, SERVICE_ADDRESS, getKvc, isReady, nodePods, script, sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

/** The baseline of issue 15 (no release tag yet), as scripts/old-version/build.sh names it. */
const BASELINE = 'base-90a4854';
export const OLD_NODE_IMAGE = process.env.KVRING_E2E_OLD_NODE_IMAGE ?? `kvring/node:${BASELINE}`;
const OLD_IMAGE_ARCHIVE = join(REPO_ROOT, '.cache', 'image', 'out', `kvring-images-${BASELINE}.tar`);
const LOAD_MS = 120_000;
const ROLLOUT_BOUND_MS = 300_000;

interface ImagedPod extends PodView {
  spec: { containers: { name: string; image: string }[] };
}

interface Rollout {
  readonly ms: number;
  readonly maxDown: number;
}

/** Sets the KVCluster's image and waits until every pod runs it, Ready, and the KVCluster is Ready. */
async function rollTo(c: ScenarioContext, image: string): Promise<Rollout> {
  const { demo } = c;
  const t0 = Date.now();
  await demo.ok(['patch', 'kvc/demo', '--type=merge', '-p', JSON.stringify({ spec: { image } })]);
  let maxDown = 0;
  for (;;) {
    const pods = (await nodePods(demo)) as ImagedPod[];
    const ready = pods.filter(podReady);
    maxDown = Math.max(maxDown, 3 - ready.length);
    const kvc = await getKvc(demo);
    if (
      ready.length === 3 &&
      pods.every((p) => p.spec.containers.every((ct) => ct.image === image)) &&
      isReady(kvc) &&
      kvc.status?.updatedReplicas === 3
    )
      return { ms: Date.now() - t0, maxDown };
    if (Date.now() - t0 > ROLLOUT_BOUND_MS)
      throw new Error(`the rollout to ${image} did not finish within ${ROLLOUT_BOUND_MS / 1000} s`);
    await sleep(500);
  }
}

/** One rollout under load: the rates, then every acknowledged key read back. */
async function rollUnderLoad(c: ScenarioContext, label: string, image: string): Promise<void> {
  const r = (line: string) => c.report('13 upgrade', `${label}: ${line}`);
  const prefix = `e2e:upgrade:${label.replace(/\W+/g, '-')}:${Date.now().toString(36)}`;
  const load = script(
    c.demo,
    loadScript({ addresses: [SERVICE_ADDRESS], prefix, durationMs: LOAD_MS, workers: 2, timeoutMs: 3000 }),
    LOAD_MS + 60_000,
  );
  await sleep(2_000);
  const roll = await rollTo(c, image);
  r(
    `rollout to ${image} in ${(roll.ms / 1000).toFixed(1)} s, at most ${roll.maxDown} pod(s) not Ready at once`,
  );
  const res = JSON.parse((await load).stdout) as LoadResult;
  const writeRate = (100 * res.acked.length) / Math.max(1, res.writes);
  const readRate = (100 * res.readOk) / Math.max(1, res.reads);
  r(
    `load over ${LOAD_MS / 1000} s: writes ${writeRate.toFixed(2)} % (${res.acked.length} of ${res.writes}), ` +
      `reads ${readRate.toFixed(2)} % (${res.readOk} of ${res.reads}); hot-key reads ${res.hotReads}, ` +
      `${res.backwards} went back; ${res.readWrong} wrong`,
  );
  if (res.firstErrors.length) r(`first errors: ${res.firstErrors.join(' | ')}`);
  const ver = JSON.parse(
    (await script(c.demo, verifyScript([SERVICE_ADDRESS], prefix, res.acked), 120_000)).stdout,
  ) as VerifyResult;
  r(
    `after it: ${ver.checked} acknowledged keys read, ${ver.missing.length} missing, ${ver.wrong.length} wrong`,
  );

  expect(roll.maxDown).toBeLessThanOrEqual(1);
  expect(res.backwards).toBe(0);
  expect(res.readWrong).toBe(0);
  expect({ missing: ver.missing.slice(0, 20), wrong: ver.wrong.slice(0, 20) }).toEqual({
    missing: [],
    wrong: [],
  });
  // A loose floor: the targets (99.9 %) are figures to read, not to assert.
  expect(res.acked.length / Math.max(1, res.writes)).toBeGreaterThan(0.9);
}

export async function upgradeScenario(c: ScenarioContext): Promise<void> {
  if (!existsSync(OLD_IMAGE_ARCHIVE) && process.env.KVRING_E2E_OLD_NODE_IMAGE === undefined) {
    c.report(
      '13 upgrade',
      `skipped: no baseline image (${OLD_IMAGE_ARCHIVE}); build it with scripts/old-version/image.sh`,
    );
    return;
  }
  // From this checkout's image to the baseline's (a rollback), then forward
  // again (an upgrade); the cluster ends on NODE_IMAGE for later scenarios.
  await rollUnderLoad(c, 'rollback new -> old', OLD_NODE_IMAGE);
  await rollUnderLoad(c, 'upgrade old -> new', NODE_IMAGE);
}
