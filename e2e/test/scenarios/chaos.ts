// Scenarios 2 and 10: pod-kill chaos under load (what chaos-mesh's pod-kill
// does): a random cache pod deleted with zero grace every 5 s (scenario 2)
// or every 15 s (scenario 10) while writers and readers run through the
// client given the headless Service; afterwards every acknowledged write is
// readable with its value, no read went back in time, the nodes agree on
// the ring, and the KVCluster is Ready again. Figures: disruption.ts.
import { expect } from '@jest/globals';
import { sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';
import { underLoad } from './disruption.js';

interface PodKill {
  readonly label: string;
  readonly everyMs: number;
  readonly chaosMs: number;
  /** Success floor, % of operations: loose, the target (99.9 %) is printed. */
  readonly floorPct: number;
}

const EVERY_5S: PodKill = { label: '2 pod-kill every 5 s', everyMs: 5_000, chaosMs: 40_000, floorPct: 50 };
const EVERY_15S: PodKill = {
  label: '10 pod-kill every 15 s',
  everyMs: 15_000,
  chaosMs: 45_000,
  floorPct: 90,
};

export const chaosScenario = (c: ScenarioContext): Promise<void> => podKill(c, EVERY_5S);
export const slowChaosScenario = (c: ScenarioContext): Promise<void> => podKill(c, EVERY_15S);

async function podKill(c: ScenarioContext, p: PodKill): Promise<void> {
  const kills: string[] = [];
  await underLoad(
    c,
    { label: p.label, loadMs: p.chaosMs + 8_000, workers: 4, floorPct: p.floorPct },
    async () => {
      const t0 = Date.now();
      for (let n = 0; n < Math.ceil(p.chaosMs / p.everyMs); n++) {
        if (n > 0) await sleep(Math.max(0, t0 + n * p.everyMs - Date.now()));
        const victim = `demo-${Math.floor(Math.random() * 3)}`;
        const del = await c.demo.run([
          'delete',
          'pod',
          victim,
          '--grace-period=0',
          '--force',
          '--wait=false',
        ]);
        if (del.code === 0) kills.push(victim);
      }
    },
  );
  c.report(p.label, `killed ${kills.length} pods: ${kills.join(' ')}`);
  expect(kills.length).toBeGreaterThanOrEqual(Math.ceil(p.chaosMs / p.everyMs) - 1);
}
