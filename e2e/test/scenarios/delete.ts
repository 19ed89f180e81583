// Scenario 7: deleting the KVCluster removes everything it owned, through
// the cluster's real garbage collector (ownerReferences), and nothing else:
// the demo's PostgreSQL keeps the data.
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { getKvc, nodePods, psql } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

interface Obj {
  kind: string;
  metadata: { name: string; uid: string; ownerReferences?: { uid: string; kind: string }[] };
}

const KINDS = 'statefulsets,services,configmaps,poddisruptionbudgets,pods,controllerrevisions,endpointslices';

/** Objects owned by `uid`, directly or through an owned object (pods and revisions of the StatefulSet). */
async function owned(c: ScenarioContext, uid: string): Promise<Obj[]> {
  const all = (await c.demo.json<{ items: Obj[] }>(['get', KINDS])).items;
  const owners = new Set([uid]);
  const out: Obj[] = [];
  for (let round = 0; round < 3; round++)
    for (const o of all)
      if (!out.includes(o) && o.metadata.ownerReferences?.some((r) => owners.has(r.uid))) {
        out.push(o);
        owners.add(o.metadata.uid);
      }
  return out;
}

export async function deleteScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('7 delete', line);
  const kvc = await getKvc(demo);
  const before = await owned(c, kvc.metadata.uid);
  const names = before.map((o) => `${o.kind}/${o.metadata.name}`);
  r(`owned by kvc/demo before the delete (${before.length}): ${names.join(' ')}`);
  for (const kind of ['StatefulSet', 'Service', 'ConfigMap', 'Pod'])
    expect(before.some((o) => o.kind === kind)).toBe(true);
  const rowsBefore = (await psql(demo, 'SELECT count(*) FROM kv_store')).stdout.trim();

  const t0 = Date.now();
  await demo.ok(['delete', 'kvc', 'demo', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  const deletedMs = Date.now() - t0;
  await eventually(
    async () => {
      const left = await owned(c, kvc.metadata.uid);
      const uids = new Set(before.map((o) => o.metadata.uid));
      const all = (await demo.json<{ items: Obj[] }>(['get', KINDS])).items;
      const still = all.filter((o) => uids.has(o.metadata.uid));
      return left.length === 0 && still.length === 0 && (await nodePods(demo)).length === 0
        ? true
        : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 1000, what: 'every object kvc/demo owned gone' },
  );
  const goneMs = Date.now() - t0;
  const rowsAfter = (await psql(demo, 'SELECT count(*) FROM kv_store')).stdout.trim();
  r(
    `kubectl delete kvc/demo returned after ${(deletedMs / 1000).toFixed(1)} s; all ${before.length} owned ` +
      `objects gone after ${(goneMs / 1000).toFixed(1)} s; PostgreSQL kv_store rows ${rowsBefore} before, ${rowsAfter} after`,
  );
  expect(rowsAfter).toBe(rowsBefore);
  const pg = await demo.run(['get', 'statefulset', 'demo-postgres']);
  expect(pg.code).toBe(0);
}
