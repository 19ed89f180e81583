// Scenario 2: pod-kill chaos under load (what chaos-mesh's pod-kill does): a
// random cache pod deleted with zero grace every ~5 s while writers and
// readers run; afterwards every acknowledged write is readable with its
// value, the nodes agree on the ring, and the KVCluster is Ready again.
import { expect } from '@jest/globals';
import { loadScript, verifyScript, type LoadResult, type VerifyResult } from '../support/load-scripts.js';
import { eventually } from '@kvring/control-plane';
import { podReady } from '../support/kubectl.js';
import { SERVICE_ADDRESS, cli, nodePods, podAddress, script, sleep, waitReady } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

const CHAOS_MS = 40_000;
const KILL_EVERY_MS = 5_000;
const ADDRESSES = [podAddress('demo-0'), podAddress('demo-1'), podAddress('demo-2'), SERVICE_ADDRESS];

export async function chaosScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('2 pod-kill', line);
  const prefix = `e2e:chaos:${Date.now().toString(36)}`;

  // The load runs a little longer than the chaos so it also sees the recovery start.
  const load = script(
    demo,
    loadScript({ addresses: ADDRESSES, prefix, durationMs: CHAOS_MS + 5_000, workers: 4, timeoutMs: 3000 }),
    CHAOS_MS + 60_000,
  );
  await sleep(2_000);
  const kills: string[] = [];
  const t0 = Date.now();
  for (let n = 0; n < Math.ceil(CHAOS_MS / KILL_EVERY_MS) && Date.now() - t0 < CHAOS_MS; n++) {
    const victim = `demo-${Math.floor(Math.random() * 3)}`;
    const del = await demo.run(['delete', 'pod', victim, '--grace-period=0', '--force', '--wait=false']);
    if (del.code === 0) kills.push(victim);
    await sleep(KILL_EVERY_MS);
  }
  const lastKill = Date.now();
  const out = await load;
  expect(out.code).toBe(0);
  const res = JSON.parse(out.stdout) as LoadResult;
  r(`killed ${kills.length} pods in ${Math.round((lastKill - t0) / 1000)} s: ${kills.join(' ')}`);
  r(
    `load: ${res.writes} writes, ${res.acked.length} acknowledged (${pct(res.acked.length, res.writes)}), ` +
      `${res.writeErrors} failed; ${res.reads} reads, ${res.readOk} ok, ${res.readWrong} wrong, ${res.readErrors} errors`,
  );
  if (res.firstErrors.length) r(`first errors: ${res.firstErrors.join(' | ')}`);

  // Recovery, from the last kill: all three pods Ready, the KVCluster Ready
  // (its status can still say Ready from before the kill, so it is read after
  // the pods), and every member answering with the same ring.
  await eventually(
    async () => {
      const pods = await nodePods(demo);
      return pods.length === 3 && pods.every(podReady) ? pods : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: 'the 3 cache pods Ready' },
  );
  const podsMs = Date.now() - lastKill;
  await waitReady(demo, 120_000);
  const readyMs = Date.now() - lastKill;
  const st = await eventually(
    async () => {
      const s = await cli(demo, SERVICE_ADDRESS, ['--json', 'cluster', 'status', '--strict']);
      return s.code === 0 ? s : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'cluster status --strict: every member up, one ring' },
  );
  const convergedMs = Date.now() - lastKill;
  const info = JSON.parse(st.stdout) as { converged?: boolean };
  r(
    `recovery after the last kill: pods Ready ${(podsMs / 1000).toFixed(1)} s, KVCluster Ready ` +
      `${(readyMs / 1000).toFixed(1)} s, ring converged on every member ${(convergedMs / 1000).toFixed(1)} s`,
  );

  const v = await script(demo, verifyScript(ADDRESSES, prefix, res.acked), 180_000);
  expect(v.code).toBe(0);
  const ver = JSON.parse(v.stdout) as VerifyResult;
  r(
    `verify: ${ver.checked} acknowledged keys read back, ${ver.missing.length} missing, ${ver.wrong.length} wrong`,
  );
  expect(kills.length).toBeGreaterThanOrEqual(5);
  expect(res.acked.length).toBeGreaterThan(0);
  expect(res.readWrong).toBe(0);
  expect({ missing: ver.missing.slice(0, 20), wrong: ver.wrong.slice(0, 20) }).toEqual({
    missing: [],
    wrong: [],
  });
  expect(info.converged).toBe(true);
}

function pct(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(1)} %`;
}
