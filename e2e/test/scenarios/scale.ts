// Scenario 3: `kubectl scale kvc/demo --replicas=5`, then back to 3. The ring
// converges on 5 then 3 members (status and every node), data written before
// stays readable throughout, a load runs through the headless Service during
// both (figures and checks: disruption.ts), and the leaving pods are drained
// before they go (events).
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { podReady } from '../support/kubectl.js';
import { loadScript, verifyScript, type LoadResult, type VerifyResult } from '../support/load-scripts.js';
import {
  SERVICE_ADDRESS,
  cli,
  condition,
  events,
  getKvc,
  isReady,
  nodePods,
  script,
} from '../support/kvring.js';
import type { ScenarioContext } from './context.js';
import { HEADLESS, underLoad } from './disruption.js';

const SEED_ADDRESSES = HEADLESS;

export async function scaleScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('3 scale', line);
  const prefix = `e2e:scale:${Date.now().toString(36)}`;

  const seed = await script(
    demo,
    loadScript({ addresses: SEED_ADDRESSES, prefix, durationMs: 5_000, workers: 2, timeoutMs: 3000 }),
    60_000,
  );
  const seeded = (JSON.parse(seed.stdout) as LoadResult).acked;
  expect(seeded.length).toBeGreaterThan(0);
  r(`seeded ${seeded.length} keys`);

  // 3 -> 5 -> 3 under one load through the headless Service (figures: disruption.ts).
  await underLoad(c, { label: '3 scale', loadMs: 100_000, workers: 2, floorPct: 90 }, async () => {
    const up = await scaleTo(c, 5);
    r(`scale to 5: Ready with RingConverged and 5 ring members in ${(up / 1000).toFixed(1)} s`);
    await expectReadable(c, prefix, seeded, 'after scaling to 5');
    const down = await scaleTo(c, 3);
    r(`scale to 3: Ready with RingConverged and 3 ring members in ${(down / 1000).toFixed(1)} s`);
  });
  await expectReadable(c, prefix, seeded, 'after scaling back to 3');

  const evs = await events(demo, 'KVCluster', 'demo');
  const drains = evs.filter((e) => /^Drain/.test(e.reason));
  r(`drain events: ${drains.map((e) => `${e.reason}: ${e.message}`).join(' | ')}`);
  const drained = drains.filter((e) => e.reason === 'Drained').map((e) => e.message);
  expect(drained.some((m) => m.includes('demo-4'))).toBe(true);
  expect(drained.some((m) => m.includes('demo-3'))).toBe(true);
}

/** Scales, waits for the pods, Ready, RingConverged and the ring's members; returns the time taken in ms. */
async function scaleTo(c: ScenarioContext, replicas: number): Promise<number> {
  const t0 = Date.now();
  await c.demo.ok(['scale', 'kvc/demo', `--replicas=${replicas}`]);
  await eventually(
    async () => {
      const pods = await nodePods(c.demo);
      return pods.length === replicas && pods.every(podReady) ? pods : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 1000, what: `${replicas} cache pods Ready` },
  );
  const kvc = await eventually(
    async () => {
      const k = await getKvc(c.demo);
      return isReady(k) &&
        condition(k, 'RingConverged')?.status === 'True' &&
        k.status?.ringMembers?.length === replicas
        ? k
        : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: `Ready, RingConverged, ${replicas} ring members` },
  );
  c.report(
    '3 scale',
    `status at ${replicas}: ringMembers ${kvc.status?.ringMembers?.join(',')}, ringHash ${kvc.status?.ringHash}`,
  );
  const st = await eventually(
    async () => {
      const s = await cli(c.demo, SERVICE_ADDRESS, ['--json', 'cluster', 'status', '--strict']);
      return s.code === 0 ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: 'cluster status --strict' },
  );
  expect((JSON.parse(st.stdout) as { members: unknown[] }).members).toHaveLength(replicas);
  return Date.now() - t0;
}

async function expectReadable(
  c: ScenarioContext,
  prefix: string,
  acked: number[],
  when: string,
): Promise<void> {
  const v = await c.demo.exec('e2e-client', ['true']); // the client pod is still there
  expect(v.code).toBe(0);
  const out = await script(c.demo, verifyScript(HEADLESS, prefix, acked), 120_000);
  const ver = JSON.parse(out.stdout) as VerifyResult;
  c.report(
    '3 scale',
    `${when}: ${ver.checked} keys read, ${ver.missing.length} missing, ${ver.wrong.length} wrong`,
  );
  expect({ missing: ver.missing.slice(0, 20), wrong: ver.wrong.slice(0, 20) }).toEqual({
    missing: [],
    wrong: [],
  });
}
