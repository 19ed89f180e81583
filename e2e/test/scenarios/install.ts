// Scenario 1: helm install of the operator (2 pods, leader election), the demo
// bundle, a Ready KVCluster of 3 pods, and what a user does with it: reads and
// writes through every pod and the client Service, rows in PostgreSQL, a
// legacy-only key read through, members found through the headless Service.
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { podReady } from '../support/kubectl.js';
import {
  CHART,
  CLIENT_POD,
  DEMO_NS,
  DEMO_DIR,
  OPERATOR_NS,
  RELEASE,
  SERVICE_ADDRESS,
  cli,
  clientPodManifest,
  helm,
  kubectlPlugin,
  nodePods,
  operatorPods,
  podAddress,
  psql,
  waitReady,
} from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

export async function installScenario(c: ScenarioContext): Promise<void> {
  const { k, demo, env } = c;
  const r = (line: string) => c.report('1 install', line);

  let t = Date.now();
  const h = await helm(env, [
    'install',
    RELEASE,
    CHART,
    '--namespace',
    OPERATOR_NS,
    '--create-namespace',
    '--wait',
    '--timeout',
    '150s',
  ]);
  expect({ code: h.code, stderr: h.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  r(`helm install --wait: ${Date.now() - t} ms`);
  const ops = { items: await operatorPods(k) };
  expect(ops.items).toHaveLength(2);
  const lease = await eventually(
    async () => {
      const l = await k
        .in(OPERATOR_NS)
        .json<{ items: { metadata: { name: string }; spec: { holderIdentity?: string } }[] }>([
          'get',
          'leases',
        ]);
      return l.items.find((x) => x.spec.holderIdentity)?.spec.holderIdentity;
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: 'an operator Lease with a holder' },
  );
  r(`operator pods: ${ops.items.map((p) => p.metadata.name).join(', ')}; leader: ${lease}`);

  t = Date.now();
  await k.ok(['apply', '-f', DEMO_DIR], { timeoutMs: 60_000 });
  const wait = await demo.run(['wait', '--for=condition=Ready', 'kvc/demo', '--timeout=240s'], {
    timeoutMs: 250_000,
  });
  expect(wait.code).toBe(0);
  r(`kubectl apply -f manifests/samples/demo/ to kvc/demo Ready: ${Date.now() - t} ms`);
  await waitReady(demo, 30_000);
  const pods = await nodePods(demo);
  expect(pods.map((p) => p.metadata.name).sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
  expect(pods.every(podReady)).toBe(true);

  await demo.apply(clientPodManifest());
  await demo.run(['wait', '--for=condition=Ready', `pod/${CLIENT_POD}`, '--timeout=60s'], {
    timeoutMs: 70_000,
  });

  // A write through each pod is read back through every other pod and the Service.
  const stamp = Date.now().toString(36);
  const addrs = [...pods.map((p) => podAddress(p.metadata.name)), SERVICE_ADDRESS];
  for (const [i, addr] of addrs.entries()) {
    const set = await cli(demo, addr, ['set', `e2e:install:${i}`, `v${i}-${stamp}`]);
    expect({ addr, code: set.code, err: set.stderr }).toEqual({ addr, code: 0, err: '' });
  }
  let reads = 0;
  for (const addr of addrs) {
    for (const [i] of addrs.entries()) {
      const get = await cli(demo, addr, ['get', `e2e:install:${i}`]);
      expect({ addr, key: i, out: get.stdout.trim() }).toEqual({ addr, key: i, out: `v${i}-${stamp}` });
      reads++;
    }
  }
  r(
    `${addrs.length} writes (one through each pod and the Service), ${reads} reads back through each: all equal`,
  );

  // Write-through: the rows are in PostgreSQL.
  const rows = await psql(
    demo,
    `SELECT key, convert_from(value, 'UTF8') FROM kv_store WHERE key LIKE 'e2e:install:%' ORDER BY key`,
  );
  expect(rows.code).toBe(0);
  r(`PostgreSQL kv_store rows for e2e:install:*: ${rows.stdout.trim().split('\n').length}`);
  expect(rows.stdout.trim().split('\n')).toHaveLength(addrs.length);
  expect(rows.stdout).toContain(`e2e:install:0|`);

  // A key only the legacy API has: read through, then a second read comes from the cache.
  const legacyKey = 'legacy:777';
  const before = await psql(demo, `SELECT count(*) FROM kv_store WHERE key = '${legacyKey}'`);
  const first = await cli(demo, SERVICE_ADDRESS, ['--json', 'get', legacyKey]);
  expect(first.code).toBe(0);
  const second = await cli(demo, SERVICE_ADDRESS, ['--json', 'get', legacyKey]);
  const f = JSON.parse(first.stdout) as { value: string; source: string };
  const s = JSON.parse(second.stdout) as { value: string; source: string };
  expect(s.value).toBe(f.value);
  r(
    `legacy-only ${legacyKey}: PostgreSQL rows before ${before.stdout.trim()}, first read source ${f.source}, second ${s.source}, value ${f.value.slice(0, 60)}`,
  );
  expect(f.source).toBe('legacy');
  expect(s.source).not.toBe('legacy');

  // ClusterInfo: the members each node found through the headless Service's DNS.
  const st = await cli(demo, SERVICE_ADDRESS, ['--json', 'cluster', 'status', '--strict']);
  expect(st.code).toBe(0);
  const info = JSON.parse(st.stdout) as { converged: boolean; members: { name: string; state: string }[] };
  expect(info.members.map((m) => m.name).sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
  expect(info.converged).toBe(true);
  r(
    `ClusterInfo members: ${info.members.map((m) => `${m.name}=${m.state}`).join(', ')}; converged ${info.converged}`,
  );

  // The kubectl plugin from the host, as a user at their desk: status and
  // ring through a port-forward to a ready pod, then a write and a read.
  const status = await kubectlPlugin(env, DEMO_NS, ['status']);
  expect({ code: status.code, err: status.stderr }).toEqual({ code: 0, err: '' });
  expect(status.stdout).toContain(`KVCluster ${DEMO_NS}/demo: 3/3 ready`);
  for (const m of ['demo-0', 'demo-1', 'demo-2'])
    expect(status.stdout).toMatch(new RegExp(`${m}\\s+(self|up)\\s`));
  const pset = await kubectlPlugin(env, DEMO_NS, ['set', 'e2e:plugin', `p-${stamp}`]);
  expect({ code: pset.code, err: pset.stderr }).toEqual({ code: 0, err: '' });
  const pget = await kubectlPlugin(env, DEMO_NS, ['get', 'e2e:plugin']);
  expect({ code: pget.code, out: pget.stdout.trim() }).toEqual({ code: 0, out: `p-${stamp}` });
  r(`kubectl kvring: status lists demo-0..2, set/get through a port-forward: ${pget.stdout.trim()}`);
}
