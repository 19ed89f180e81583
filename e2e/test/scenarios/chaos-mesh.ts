// Scenario 9: chaos as written. chaos-mesh's own controller manager (an
// installed one, or the one built from its Go module and installed from
// e2e/chaos-mesh/) applies manifests/chaos/pod-kill.yaml, unchanged, several
// times under load: each time it really kills a pod (its uid changes, the
// PodChaos records the injection), and afterwards no acknowledged write is
// lost or wrong and the KVCluster is Ready again. Every file in
// manifests/chaos/ also passes chaos-mesh's admission webhooks (server-side
// dry run): the experiments that need the chaos daemon are valid as written,
// even where they cannot run.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { podReady, type PodView } from '../support/kubectl.js';
import {
  CHAOS_DIR,
  CHAOS_MESH_NS,
  findControllers,
  installChaosMesh,
  isOurs,
  uninstallChaosMesh,
  waitChaosMeshReady,
  type PodChaosView,
} from '../support/chaos-mesh.js';
import { nodePods, sleep, waitReady } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';
import { underLoad } from './disruption.js';

const POD_KILL = join(CHAOS_DIR, 'pod-kill.yaml');
const CHAOS_NAME = 'kvring-pod-kill';
/** Kills, one every KILL_EVERY_MS at most: short, so the shared cluster is not kept busy. */
const KILLS = 4;
const KILL_EVERY_MS = 8_000;

interface Kill {
  pod: string;
  /** From `kubectl apply` to chaos-mesh's record saying Injected, in ms. */
  injectedMs: number;
  events: string[];
}

export async function chaosMeshScenario(c: ScenarioContext): Promise<void> {
  const { k, demo } = c;
  const r = (line: string) => c.report('9 chaos-mesh', line);

  // --- chaos-mesh: the installed one, else ours ------------------------------
  const found = await findControllers(k);
  const theirs = found.find((d) => !isOurs(d));
  let installed = false;
  let ns = CHAOS_MESH_NS;
  if (theirs) {
    ns = theirs.metadata.namespace;
    r(`using the chaos-mesh already installed: deployment ${theirs.metadata.name} in ${ns}`);
  } else {
    const t = await installChaosMesh(k);
    installed = true;
    r(
      `installed chaos-mesh's controller manager from e2e/chaos-mesh/: CRDs ${(t.crdsMs / 1000).toFixed(1)} s, ` +
        `controller and webhooks applied in ${(t.controllerMs / 1000).toFixed(1)} s`,
    );
  }
  // An installed chaos-mesh may have rotated its start-up log away: for it, available and answering will do.
  const readyMs = await waitChaosMeshReady(k, ns, 180_000, installed);
  r(
    `controller manager available, its webhooks answering${installed ? ', its PodChaos controller started' : ''} ` +
      `in ${(readyMs / 1000).toFixed(1)} s`,
  );

  try {
    // Every experiment as written passes chaos-mesh's validation (no object is made).
    const files = readdirSync(CHAOS_DIR).filter((f) => f.endsWith('.yaml'));
    for (const f of files) {
      const dry = await k.run(['apply', '--dry-run=server', '-f', join(CHAOS_DIR, f)]);
      expect({ file: f, code: dry.code, stderr: dry.stderr.trim() }).toEqual({
        file: f,
        code: 0,
        stderr: '',
      });
    }
    r(
      `chaos-mesh's admission webhooks accept all ${files.length} files of manifests/chaos/ (server-side dry run)`,
    );

    // --- pod-kill.yaml, applied KILLS times under load ------------------------
    // From a healthy start: three Ready pods and a Ready KVCluster.
    await eventually(
      async () => {
        const pods = await nodePods(demo);
        return pods.length === 3 && pods.every(podReady) ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the 3 cache pods Ready before the first kill' },
    );
    await waitReady(demo, 120_000);
    await demo.run(['delete', 'podchaos', CHAOS_NAME, '--ignore-not-found', '--wait=true', '--timeout=60s']);
    const kills: Kill[] = [];
    await underLoad(
      c,
      { label: '9 chaos-mesh', loadMs: KILLS * KILL_EVERY_MS + 8_000, workers: 4, floorPct: 80 },
      async () => {
        for (let n = 0; n < KILLS; n++) {
          const started = Date.now();
          kills.push(await killOnce(c));
          // The next kill only after the cluster had a moment, as in scenario 2; then
          // delete the PodChaos so that applying the same file again makes a new one.
          await demo.ok(['delete', '-f', POD_KILL, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
          const rest = KILL_EVERY_MS - (Date.now() - started);
          if (n < KILLS - 1 && rest > 0) await sleep(rest);
        }
      },
    );
    for (const [i, kill] of kills.entries())
      r(
        `kill ${i + 1}: chaos-mesh killed ${kill.pod} ${(kill.injectedMs / 1000).toFixed(1)} s after kubectl apply ` +
          `(PodChaos events: ${kill.events.join(', ') || 'none'})`,
      );
    expect(kills).toHaveLength(KILLS);
  } finally {
    await demo.run(['delete', '-f', POD_KILL, '--ignore-not-found', '--wait=true', '--timeout=60s'], {
      timeoutMs: 70_000,
    });
    // Ours goes again (a chaos-mesh that was there stays); KVRING_E2E_KEEP_NAMESPACES keeps it to look at.
    if (installed && !process.env.KVRING_E2E_KEEP_NAMESPACES) {
      await uninstallChaosMesh(k);
      r('removed the chaos-mesh this scenario installed (webhooks, namespace, RBAC, CRDs)');
    }
  }
}

/**
 * `kubectl apply -f manifests/chaos/pod-kill.yaml`, then waits until chaos-mesh says it
 * injected the kill and the pod it names really was replaced (its uid changed).
 */
async function killOnce(c: ScenarioContext): Promise<Kill> {
  const { demo } = c;
  const before = new Map((await nodePods(demo)).map((p: PodView) => [p.metadata.name, p.metadata.uid]));
  const t0 = Date.now();
  await demo.ok(['apply', '-f', POD_KILL]);
  const chaos = await eventually(
    async () => {
      const pc = await demo.json<PodChaosView>(['get', 'podchaos', CHAOS_NAME]);
      const rec = pc.status?.experiment?.containerRecords?.find(
        (x) => x.phase === 'Injected' && x.injectedCount >= 1,
      );
      return rec ? { pc, rec } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `PodChaos ${CHAOS_NAME} to record an injected pod-kill` },
  );
  const injectedMs = Date.now() - t0;
  // The record's id is namespace/pod.
  const pod = chaos.rec.id.split('/').pop() ?? chaos.rec.id;
  expect(before.has(pod)).toBe(true);
  await eventually(
    async () => {
      const now = await demo.run(['get', 'pod', pod, '-o', 'jsonpath={.metadata.uid}']);
      // Gone (not yet recreated) or back under a new uid: either way, killed.
      if (now.code !== 0 && /NotFound/.test(now.stderr)) return true;
      return now.code === 0 && now.stdout !== before.get(pod) ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `${pod} replaced (a new uid)` },
  );
  // chaos-mesh's own Kubernetes events on the PodChaos (written asynchronously): `Applied` is the kill.
  const reasons = await eventually(
    async () => {
      const ev = await demo.json<{ items: { reason: string }[] }>([
        'get',
        'events',
        '--field-selector',
        `involvedObject.kind=PodChaos,involvedObject.name=${CHAOS_NAME},involvedObject.uid=${chaos.pc.metadata.uid}`,
      ]);
      const rs = [...new Set(ev.items.map((e) => e.reason))];
      return rs.includes('Applied') ? rs : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, what: `an Applied event on PodChaos ${CHAOS_NAME}` },
  );
  const failed = chaos.rec.events?.filter((e) => e.type === 'Failed') ?? [];
  expect(failed).toEqual([]);
  return { pod, injectedMs, events: reasons };
}
