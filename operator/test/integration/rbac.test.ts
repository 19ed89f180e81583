// The operator as a user bound to exactly operator/deploy/rbac.yaml (RBAC
// on): everything it does must be allowed, nothing more is granted. Also
// the optional ServiceMonitor: skipped while its CRD is missing, created
// once it exists, deleted when turned off (like the PDB).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { ControlPlane, eventually, REPO_ROOT } from '@kvring/control-plane';
import type { KVCluster } from '../../src/api/types.js';
import { silentLogger } from '../../src/log.js';
import { Operator } from '../../src/operator.js';

const NS = 'apps';
const OPERATOR_NS = 'kvring-system';
const USER = 'kvring-operator';
let cp: ControlPlane;
let operator: Operator;

const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: {
      kind: 'ServiceMonitor',
      plural: 'servicemonitors',
      singular: 'servicemonitor',
      listKind: 'ServiceMonitorList',
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

async function exists(kind: string, name: string): Promise<boolean> {
  return (await cp.kubectl(['-n', NS, 'get', kind, name])).code === 0;
}

async function canI(verb: string, resource: string, ns = NS, extra: string[] = []): Promise<string> {
  const r = await cp.kubectl(['auth', 'can-i', verb, resource, '-n', ns, `--as=${USER}`, ...extra]);
  return r.stdout.trim();
}

async function reasons(name: string): Promise<string[]> {
  const list = JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'events.events.k8s.io', '-o', 'json'])) as {
    items: { reason: string; regarding: { name: string } }[];
  };
  return list.items.filter((e) => e.regarding.name === name).map((e) => e.reason);
}

beforeAll(async () => {
  cp = await ControlPlane.start();
  await cp.kubectlOk(['apply', '-f', join(REPO_ROOT, 'operator', 'deploy', 'rbac.yaml')]);
  for (const ns of [NS, OPERATOR_NS]) await cp.kubectlOk(['create', 'namespace', ns]);
  await cp.kubectlOk(['create', 'clusterrolebinding', USER, `--clusterrole=${USER}`, `--user=${USER}`]);
  await cp.kubectlOk([
    '-n',
    OPERATOR_NS,
    'create',
    'rolebinding',
    'kvring-operator-leader-election',
    '--clusterrole=kvring-operator-leader-election',
    `--user=${USER}`,
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(await cp.userKubeconfig(USER));
  operator = new Operator({
    kubeConfig: kc,
    identity: 'rbac-test',
    log: silentLogger(),
    leaderElection: {
      enabled: true,
      namespace: OPERATOR_NS,
      name: 'kvring-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    reconciler: { busyRequeueMs: 300, steadyRequeueMs: 1_000, discoveryTtlMs: 200 },
  });
  await operator.start();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
});

describe('the operator under its own least-privilege RBAC', () => {
  it('is granted what it needs and nothing that installs or destroys', async () => {
    expect(await canI('patch', 'statefulsets')).toBe('yes');
    expect(await canI('update', 'kvclusters.kvring.dev', NS, ['--subresource=status'])).toBe('yes');
    expect(await canI('create', 'customresourcedefinitions.apiextensions.k8s.io')).toBe('no');
    expect(await canI('delete', 'statefulsets')).toBe('no');
    expect(await canI('delete', 'kvclusters.kvring.dev')).toBe('no');
    expect(await canI('create', 'secrets')).toBe('no');
    expect(await canI('update', 'leases.coordination.k8s.io', OPERATOR_NS)).toBe('yes');
    expect(await canI('update', 'leases.coordination.k8s.io', NS)).toBe('no');
  });

  it('reconciles a cluster, and handles the ServiceMonitor and PDB as the spec and installed APIs say', async () => {
    await cp.kubectlOk([
      '-n',
      NS,
      'create',
      'secret',
      'generic',
      'pg',
      '--from-literal=username=u',
      '--from-literal=password=p',
    ]);
    const manifest = (monitoring: boolean, pdb: boolean): string =>
      JSON.stringify({
        apiVersion: 'kvring.dev/v1alpha1',
        kind: 'KVCluster',
        metadata: { name: 'mon', namespace: NS },
        spec: {
          postgres: { host: 'pg', credentialsSecret: { name: 'pg' } },
          monitoring: { serviceMonitor: { enabled: monitoring, labels: { release: 'prometheus' } } },
          podDisruptionBudget: { enabled: pdb },
        },
      });
    await cp.kubectlOk(['apply', '-f', '-'], { input: manifest(true, true) });
    await eventually(async () => ((await exists('statefulset', 'mon')) ? true : undefined), {
      what: 'the StatefulSet',
    });
    await eventually(
      async () => ((await reasons('mon')).includes('ServiceMonitorUnavailable') ? true : undefined),
      {
        what: 'a ServiceMonitorUnavailable event',
      },
    );
    const status = JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'kvc', 'mon', '-o', 'json'])) as KVCluster;
    expect(status.status?.observedGeneration).toBe(1);
    expect(
      await cp.kubectlOk([
        '-n',
        OPERATOR_NS,
        'get',
        'lease',
        'kvring-operator',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]),
    ).toBe('rbac-test');

    // The prometheus-operator gets installed: the ServiceMonitor follows.
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(SERVICE_MONITOR_CRD) });
    const sm = await eventually(
      async () => {
        const r = await cp.kubectl(['-n', NS, 'get', 'servicemonitor', 'mon', '-o', 'json']);
        return r.code === 0
          ? (JSON.parse(r.stdout) as {
              metadata: { labels: Record<string, string>; ownerReferences: { name: string }[] };
              spec: { endpoints: { port: string }[] };
            })
          : undefined;
      },
      { what: 'the ServiceMonitor', timeoutMs: 60_000 },
    );
    expect(sm.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(sm.metadata.ownerReferences[0]!.name).toBe('mon');
    expect(sm.spec.endpoints[0]!.port).toBe('http');

    // Turned off in the spec: both go away.
    await cp.kubectlOk(['apply', '-f', '-'], { input: manifest(false, false) });
    await eventually(
      async () =>
        !(await exists('servicemonitor', 'mon')) && !(await exists('poddisruptionbudget', 'mon'))
          ? true
          : undefined,
      { what: 'the ServiceMonitor and PDB to be deleted' },
    ).catch(async (e) => {
      console.log(await cp.kubectlOk(['-n', NS, 'get', 'kvc', 'mon', '-o', 'yaml']));
      console.log(await cp.kubectlOk(['-n', NS, 'get', 'events.events.k8s.io']));
      throw e;
    });
    expect(await reasons('mon')).toContain('Deleted');

    const metrics = await operator.metrics.registry.metrics();
    expect(metrics).not.toContain('reason="Forbidden"');
  });
});
