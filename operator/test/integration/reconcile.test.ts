// The operator against a real kube-apiserver (no controller-manager, no
// kubelet): the test plays the StatefulSet controller by patching its
// status, and plays the pods with Pod objects whose status points at fake
// nodes on loopback addresses.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ControlPlane, eventually } from '@kvring/control-plane';
import type { Condition, KVCluster } from '../../src/api/types.js';
import { silentLogger } from '../../src/log.js';
import { Operator } from '../../src/operator.js';
import { FakeNode, type FakeView } from './fake-node.js';

const NS = 'shop';
let cp: ControlPlane;
let operator: Operator;

interface Obj {
  metadata: {
    name: string;
    uid: string;
    generation?: number;
    ownerReferences?: {
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
    managedFields?: { manager: string; operation: string }[];
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
}

async function get(kind: string, name: string): Promise<Obj | undefined> {
  const r = await cp.kubectl(['-n', NS, 'get', kind, name, '-o', 'json', '--show-managed-fields']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as Obj;
}

async function cluster(name: string): Promise<KVCluster> {
  return JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'kvc', name, '-o', 'json'])) as KVCluster;
}

function condition(c: KVCluster, type: string): Condition | undefined {
  return c.status?.conditions?.find((x) => x.type === type);
}

/** Waits until the cluster's condition `type` has `status` (and `reason`, when given). */
function waitCondition(name: string, type: string, status: string, reason?: string, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const c = await cluster(name);
      const cond = condition(c, type);
      return cond?.status === status && (!reason || cond.reason === reason) ? c : undefined;
    },
    { what: `${name} ${type}=${status}${reason ? ` (${reason})` : ''}`, timeoutMs },
  );
}

async function apply(obj: unknown): Promise<void> {
  await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(obj) });
}

function kvcluster(name: string, spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace: NS },
    spec: { postgres: { host: 'pg.db.svc', credentialsSecret: { name: 'pg-creds' } }, ...spec },
  };
}

/** Plays the StatefulSet controller: writes the status it would report. */
async function setStatefulSetStatus(
  name: string,
  s: { ready: number; updated: number; replicas?: number },
): Promise<void> {
  const sts = (await get('statefulset', name))!;
  const replicas = s.replicas ?? (sts.spec!.replicas as number);
  await cp.kubectlOk([
    '-n',
    NS,
    'patch',
    'statefulset',
    name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        observedGeneration: sts.metadata.generation,
        replicas,
        readyReplicas: s.ready,
        availableReplicas: s.ready,
        currentReplicas: replicas,
        updatedReplicas: s.updated,
        currentRevision: `${name}-a`,
        updateRevision: s.updated === replicas ? `${name}-a` : `${name}-b`,
      },
    }),
  ]);
}

function secret(name: string, data: Record<string, string>): unknown {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData: data };
}

async function eventsFor(name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const list = JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'events.events.k8s.io', '-o', 'json'])) as {
    items: { reason: string; note: string; type: string; regarding: { name: string } }[];
  };
  return list.items.filter((e) => e.regarding.name === name);
}

beforeAll(async () => {
  cp = await ControlPlane.start();
  await cp.kubectlOk(['create', 'namespace', NS]);
  // No controller-manager creates it: pods need it to pass admission.
  await cp.kubectlOk(['-n', NS, 'create', 'serviceaccount', 'default']);
  await apply(secret('pg-creds', { username: 'kvring', password: 's3cret' }));
  operator = new Operator({
    kubeConfig: cp.kubeConfig(),
    identity: 'reconcile-test',
    log: silentLogger(),
    leaderElection: {
      enabled: false,
      namespace: NS,
      name: 'unused',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    reconciler: { busyRequeueMs: 300, steadyRequeueMs: 1_000 },
  });
  await operator.start();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
});

describe('reconcile against a real API server', () => {
  it('creates the StatefulSet, Services, ConfigMap and PDB, owned by the cluster and applied by kvring-operator', async () => {
    await apply(kvcluster('demo'));
    const owner = await cluster('demo');
    const objects = await eventually(
      async () => {
        const all = await Promise.all([
          get('statefulset', 'demo'),
          get('service', 'demo'),
          get('service', 'demo-peers'),
          get('configmap', 'demo-config'),
          get('poddisruptionbudget', 'demo'),
        ]);
        return all.every(Boolean) ? (all as Obj[]) : undefined;
      },
      { what: 'the owned objects' },
    );
    for (const o of objects) {
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'kvring.dev/v1alpha1',
          kind: 'KVCluster',
          name: 'demo',
          uid: owner.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(o.metadata.managedFields).toContainEqual(
        expect.objectContaining({ manager: 'kvring-operator', operation: 'Apply' }),
      );
    }
    const [sts, , peers, cm] = objects;
    expect(sts!.spec).toMatchObject({
      replicas: 3,
      serviceName: 'demo-peers',
      podManagementPolicy: 'Parallel',
    });
    expect(peers!.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(cm!.data).toMatchObject({ KVRING_DISCOVERY_SERVICE: 'demo-peers.shop.svc.cluster.local' });

    const c = await waitCondition('demo', 'Progressing', 'True', 'Creating');
    expect(c.status).toMatchObject({
      observedGeneration: 1,
      selector: 'app.kubernetes.io/name=kvring,app.kubernetes.io/instance=demo',
      quorum: '3/2/2',
    });
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'Creating' });
    const reasons = (await eventsFor('demo')).map((e) => e.reason);
    expect(reasons).toContain('Created');
  });

  it('status conditions follow the StatefulSet status', async () => {
    await setStatefulSetStatus('demo', { ready: 3, updated: 3 });
    const ready = await waitCondition('demo', 'Ready', 'True', 'NodesReady');
    expect(ready.status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3 });
    expect(condition(ready, 'Progressing')).toMatchObject({ status: 'False', reason: 'UpToDate' });
    expect(condition(ready, 'Degraded')).toMatchObject({ status: 'False' });
    // What a user types works.
    await cp.kubectlOk(['-n', NS, 'wait', '--for=condition=Ready', 'kvc/demo', '--timeout=10s']);
    const lastTransition = condition(ready, 'Ready')!.lastTransitionTime;

    await setStatefulSetStatus('demo', { ready: 2, updated: 3 });
    const degraded = await waitCondition('demo', 'Degraded', 'True', 'NodesNotReady');
    expect(condition(degraded, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NodesNotReady',
      message: '2/3 node(s) ready',
    });
    expect(condition(degraded, 'Ready')!.lastTransitionTime >= lastTransition).toBe(true);
    expect((await eventsFor('demo')).map((e) => e.reason)).toEqual(
      expect.arrayContaining(['ClusterReady', 'ClusterNotReady']),
    );

    await setStatefulSetStatus('demo', { ready: 3, updated: 3 });
    await waitCondition('demo', 'Ready', 'True');
  });

  it('a spec change is applied, observedGeneration follows, and the pods roll one at a time', async () => {
    const before = (await get('statefulset', 'demo'))!;
    await cp.kubectlOk([
      '-n',
      NS,
      'patch',
      'kvc',
      'demo',
      '--type=merge',
      '-p',
      '{"spec":{"cache":{"maxMemory":"512Mi"}}}',
    ]);
    const c = await eventually(
      async () => {
        const k = await cluster('demo');
        return k.status?.observedGeneration === 2 ? k : undefined;
      },
      { what: 'observedGeneration 2' },
    );
    expect(c.metadata.generation).toBe(2);
    expect((await get('configmap', 'demo-config'))!.data!.KVRING_MAX_MEMORY).toBe('512Mi');

    // The template changed: every pod is held first, then released one by one.
    const partition = async (): Promise<number> =>
      ((await get('statefulset', 'demo'))!.spec!.updateStrategy as { rollingUpdate: { partition: number } })
        .rollingUpdate.partition;
    await eventually(async () => ((await partition()) === 3 ? true : undefined), { what: 'partition 3' });
    const after = (await get('statefulset', 'demo'))!;
    expect(after.metadata.annotations!['kvring.dev/template-hash']).not.toBe(
      before.metadata.annotations!['kvring.dev/template-hash'],
    );
    await waitCondition('demo', 'Progressing', 'True', 'RollingUpdate');

    const seen: number[] = [];
    for (let updated = 0; updated <= 3; updated++) {
      // The StatefulSet controller replaced `updated` pods and they are ready again.
      await setStatefulSetStatus('demo', { ready: 3, updated });
      const expected = 3 - updated - 1;
      if (expected < 0) break;
      await eventually(async () => ((await partition()) === expected ? true : undefined), {
        what: `partition ${expected}`,
      });
      seen.push(expected);
      // While that pod restarts, the operator does not release another one.
      await setStatefulSetStatus('demo', { ready: 2, updated });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await partition()).toBe(expected);
    }
    expect(seen).toEqual([2, 1, 0]);
    await setStatefulSetStatus('demo', { ready: 3, updated: 3 });
    await waitCondition('demo', 'Progressing', 'False', 'UpToDate');
    expect((await eventsFor('demo')).some((e) => e.reason === 'RollingUpdate')).toBe(true);
  });

  it('a missing Secret makes the cluster Degraded with a clear reason; creating it clears that', async () => {
    await apply(
      kvcluster('nosecret', { postgres: { host: 'pg', credentialsSecret: { name: 'nosecret-pg' } } }),
    );
    const c = await waitCondition('nosecret', 'Degraded', 'True', 'SecretNotFound');
    const msg = condition(c, 'Degraded')!.message;
    expect(msg).toContain(
      'Secret "nosecret-pg" (spec.postgres.credentialsSecret) was not found in namespace "shop"',
    );
    expect(msg).toContain('kubectl -n shop create secret generic nosecret-pg');
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    // Nothing that would start failing pods.
    expect(await get('statefulset', 'nosecret')).toBeUndefined();

    await apply(secret('nosecret-pg', { username: 'u' }));
    const keyMissing = await waitCondition('nosecret', 'Degraded', 'True', 'SecretKeyMissing');
    expect(condition(keyMissing, 'Degraded')!.message).toContain('has no key password');

    await apply(secret('nosecret-pg', { username: 'u', password: 'p' }));
    await waitCondition('nosecret', 'Degraded', 'False');
    await eventually(() => get('statefulset', 'nosecret'), { what: 'the StatefulSet' });
    expect((await eventsFor('nosecret')).map((e) => e.reason)).toContain('SecretNotFound');
  });

  it('reports the nodes’ ring and PostgreSQL reachability, and drains leaving pods before scaling down', async () => {
    // Fake pods on loopback addresses of their own (random to avoid clashes with other runs).
    const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
    const members = ['ring-0', 'ring-1', 'ring-2', 'ring-3'];
    const view = (): FakeView => ({
      members,
      ringHash: 'r4',
      postgresReachable: true,
      legacyApiReachable: true,
    });
    const nodes = await Promise.all(
      members.map((m, i) => FakeNode.start(`${net}.${10 + i}`, 50051, m, view())),
    );
    try {
      await apply(kvcluster('ring', { replicas: 4 }));
      await eventually(() => get('statefulset', 'ring'), { what: 'the StatefulSet' });
      for (const [i, m] of members.entries()) {
        await apply({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: m,
            namespace: NS,
            labels: {
              'app.kubernetes.io/name': 'kvring',
              'app.kubernetes.io/instance': 'ring',
              'app.kubernetes.io/managed-by': 'kvring-operator',
            },
          },
          spec: { containers: [{ name: 'node', image: 'kvring/node:0.1.0' }] },
        });
        const ip = `${net}.${10 + i}`;
        await cp.kubectlOk([
          '-n',
          NS,
          'patch',
          'pod',
          m,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({
            status: {
              phase: 'Running',
              podIP: ip,
              podIPs: [{ ip }],
              conditions: [{ type: 'Ready', status: 'True' }],
            },
          }),
        ]);
      }
      await setStatefulSetStatus('ring', { ready: 4, updated: 4 });
      const ok = await waitCondition('ring', 'RingConverged', 'True', 'Converged');
      expect(ok.status).toMatchObject({ ringMembers: members, ringHash: 'r4' });
      expect(condition(ok, 'PostgresReachable')).toMatchObject({ status: 'True', reason: 'Reachable' });
      await waitCondition('ring', 'Ready', 'True');

      nodes[1]!.view = { ...view(), postgresReachable: false };
      const pg = await waitCondition('ring', 'PostgresReachable', 'False', 'Unreachable');
      expect(condition(pg, 'PostgresReachable')!.message).toContain(
        'ring-1 cannot reach PostgreSQL at pg.db.svc:5432',
      );
      expect(condition(pg, 'Ready')).toMatchObject({ status: 'False', reason: 'PostgresUnreachable' });
      nodes[1]!.view = view();
      await waitCondition('ring', 'Ready', 'True');

      // Scale down 4 -> 3: ring-3 must hand its keys over before the StatefulSet shrinks.
      nodes[3]!.holdDrain();
      await cp.kubectlOk(['-n', NS, 'scale', 'kvc', 'ring', '--replicas=3']);
      const draining = await waitCondition('ring', 'Progressing', 'True', 'Draining');
      expect(draining.status!.scaleDown).toMatchObject({ from: 4, to: 3, drained: [] });
      await eventually(() => (nodes[3]!.drainCalls.length > 0 ? true : undefined), { what: 'a Drain call' });
      expect(nodes[3]!.drainCalls[0]).toEqual(['ring-3']);
      expect(nodes.slice(0, 3).every((n) => n.drainCalls.length === 0)).toBe(true);
      // While the drain runs the StatefulSet keeps its size.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await get('statefulset', 'ring'))!.spec!.replicas).toBe(4);

      nodes[3]!.releaseDrain();
      await eventually(
        async () => ((await get('statefulset', 'ring'))!.spec!.replicas === 3 ? true : undefined),
        { what: 'the StatefulSet to shrink to 3' },
      );
      const reasons = (await eventsFor('ring')).map((e) => e.reason);
      expect(reasons).toEqual(expect.arrayContaining(['Draining', 'Drained', 'ScaledDown']));
      const notes = (await eventsFor('ring')).filter((e) => e.reason === 'Drained').map((e) => e.note);
      expect(notes).toContain('ring-3 handed over 42 key(s)');
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  it('deleting a cluster leaves nothing the garbage collector would not remove: every owned object references it', async () => {
    const owner = await cluster('demo');
    await cp.kubectlOk(['-n', NS, 'delete', 'kvc', 'demo', '--wait=false']);
    for (const [kind, name] of [
      ['statefulset', 'demo'],
      ['service', 'demo'],
      ['service', 'demo-peers'],
      ['configmap', 'demo-config'],
      ['poddisruptionbudget', 'demo'],
    ] as const) {
      const o = await get(kind, name);
      // Without a controller-manager nothing collects them; with one, these references are what it follows.
      expect(o?.metadata.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'KVCluster',
          uid: owner.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        }),
      ]);
    }
    // Every object the operator labels as its own in the namespace is owned by some KVCluster.
    const labelled = JSON.parse(
      await cp.kubectlOk([
        '-n',
        NS,
        'get',
        'statefulsets,services,configmaps,poddisruptionbudgets',
        '-l',
        'app.kubernetes.io/managed-by=kvring-operator',
        '-o',
        'json',
      ]),
    ) as { items: Obj[] };
    expect(labelled.items.length).toBeGreaterThan(0);
    for (const o of labelled.items)
      expect(o.metadata.ownerReferences?.some((r) => r.kind === 'KVCluster' && r.controller)).toBe(true);
  });

  it('exports reconcile and per-cluster metrics', async () => {
    const text = await operator.metrics.registry.metrics();
    expect(text).toMatch(/kvring_operator_reconcile_total\{result="requeue"\} [1-9]/);
    expect(text).toMatch(/kvring_operator_reconcile_total\{result="retry"\} [1-9]/);
    expect(text).toMatch(/kvring_operator_reconcile_duration_seconds_count [1-9]/);
    expect(text).toMatch(/kvring_operator_cluster_replicas_desired\{namespace="shop",name="ring"\} 3/);
    expect(text).toContain('kvring_operator_workqueue_depth');
    expect(text).toMatch(/kvring_operator_drains_total\{result="succeeded"\} 1/);
    const sum = Number(/kvring_operator_reconcile_duration_seconds_sum (\S+)/.exec(text)![1]);
    const count = Number(/kvring_operator_reconcile_duration_seconds_count (\S+)/.exec(text)![1]);
    console.log(
      `reconciles: ${count}, mean duration ${((sum / count) * 1000).toFixed(1)} ms (real API server, loopback)`,
    );
  });
});
