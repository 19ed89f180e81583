import { describe, expect, it } from '@jest/globals';
import type { V1StatefulSet } from '@kubernetes/client-node';
import { findCondition, setCondition } from '../../src/api/conditions.js';
import { withDefaults, type Condition, type KVCluster } from '../../src/api/types.js';
import type { NodeReport } from '../../src/reconcile/node-report.js';
import { computeStatus, statusChanged, type StatusInput } from '../../src/reconcile/status.js';
import { cluster } from './fixtures.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:05:00Z';

function sts(replicas: number, status: Partial<NonNullable<V1StatefulSet['status']>>): V1StatefulSet {
  return {
    metadata: { name: 'demo', generation: 1 },
    spec: { replicas, selector: {}, serviceName: 'demo-peers', template: {} },
    status: { replicas, observedGeneration: 1, ...status },
  };
}

function report(pod: string, over: Partial<NonNullable<NodeReport['info']>> = {}): NodeReport {
  return {
    pod,
    reachable: true,
    info: {
      ringHash: 'h1',
      members: ['demo-0', 'demo-1', 'demo-2'],
      postgresReachable: true,
      legacyApiReachable: true,
      draining: false,
      hintsPending: 0,
      ...over,
    },
  };
}

function input(c: KVCluster, over: Partial<StatusInput> = {}): StatusInput {
  return {
    cluster: c,
    spec: withDefaults(c.spec),
    now: T0,
    statefulSet: sts(3, { readyReplicas: 3, updatedReplicas: 3 }),
    reports: [],
    expectedMembers: ['demo-0', 'demo-1', 'demo-2'],
    postgresTarget: 'pg.db.svc:5432',
    ...over,
  };
}

function cond(conditions: Condition[] | undefined, type: string): Pick<Condition, 'status' | 'reason'> {
  const c = findCondition(conditions, type);
  return { status: c!.status, reason: c!.reason };
}

describe('conditions', () => {
  it('keep lastTransitionTime while the status stays, and move it when it changes', () => {
    let cs = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'a' }, 1, T0);
    cs = setCondition(cs, { type: 'Ready', status: 'False', reason: 'NodesNotReady', message: 'b' }, 2, T1);
    expect(cs).toEqual([
      {
        type: 'Ready',
        status: 'False',
        observedGeneration: 2,
        lastTransitionTime: T0,
        reason: 'NodesNotReady',
        message: 'b',
      },
    ]);
    cs = setCondition(cs, { type: 'Ready', status: 'True', reason: 'NodesReady', message: 'c' }, 2, T1);
    expect(cs[0]!.lastTransitionTime).toBe(T1);
  });
});

describe('computeStatus', () => {
  it('a cluster with every node ready and agreeing is Ready, not Progressing, not Degraded', () => {
    const s = computeStatus(
      input(cluster(), { reports: [report('demo-0'), report('demo-1'), report('demo-2')] }),
    );
    expect(s).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      selector: 'app.kubernetes.io/name=kvring,app.kubernetes.io/instance=demo',
      quorum: '3/2/2',
      ringMembers: ['demo-0', 'demo-1', 'demo-2'],
      ringHash: 'h1',
    });
    expect(s.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'NodesReady'],
      ['Progressing', 'False', 'UpToDate'],
      ['Degraded', 'False', 'AsExpected'],
      ['RingConverged', 'True', 'Converged'],
      ['PostgresReachable', 'True', 'Reachable'],
      ['LegacyApiReachable', 'True', 'NotConfigured'],
    ]);
    expect(s.conditions!.every((c) => c.observedGeneration === 1 && c.lastTransitionTime === T0)).toBe(true);
  });

  it('before the StatefulSet exists the cluster is Creating', () => {
    const s = computeStatus(input(cluster(), { statefulSet: undefined }));
    expect(cond(s.conditions, 'Ready')).toEqual({ status: 'False', reason: 'Creating' });
    expect(cond(s.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Creating' });
    expect(cond(s.conditions, 'Degraded')).toEqual({ status: 'False', reason: 'AsExpected' });
    expect(cond(s.conditions, 'RingConverged')).toEqual({ status: 'Unknown', reason: 'NoNodes' });
    expect(cond(s.conditions, 'PostgresReachable')).toEqual({ status: 'Unknown', reason: 'NoNodeReports' });
  });

  it('right after the first apply (a StatefulSet without status yet) the cluster is Creating', () => {
    const fresh: V1StatefulSet = { ...sts(3, {}), status: undefined };
    const s = computeStatus(input(cluster(), { statefulSet: fresh }));
    expect(cond(s.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Creating' });
    expect(cond(s.conditions, 'Ready')).toEqual({ status: 'False', reason: 'Creating' });
  });

  it('follows the StatefulSet as its pods become ready', () => {
    const c = cluster();
    const s1 = computeStatus(input(c, { statefulSet: sts(3, { readyReplicas: 1, updatedReplicas: 3 }) }));
    expect(cond(s1.conditions, 'Ready')).toEqual({ status: 'False', reason: 'Creating' });
    expect(cond(s1.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Creating' });
    c.status = s1;
    const s2 = computeStatus(input(c, { now: T1 }));
    expect(cond(s2.conditions, 'Ready')).toEqual({ status: 'True', reason: 'NodesReady' });
    expect(findCondition(s2.conditions, 'Ready')!.lastTransitionTime).toBe(T1);
    // A node crashing later is not "creating" any more: Degraded says so.
    c.status = s2;
    const s3 = computeStatus(input(c, { statefulSet: sts(3, { readyReplicas: 2, updatedReplicas: 3 }) }));
    expect(cond(s3.conditions, 'Ready')).toEqual({ status: 'False', reason: 'NodesNotReady' });
    expect(cond(s3.conditions, 'Progressing')).toEqual({ status: 'False', reason: 'UpToDate' });
    expect(cond(s3.conditions, 'Degraded')).toEqual({ status: 'True', reason: 'NodesNotReady' });
  });

  it('a pod that cannot start makes the cluster Degraded and names it; a pod still starting does not', () => {
    const pod = (name: string, waiting?: { reason: string; message?: string }) => ({
      metadata: { name },
      status: {
        containerStatuses: [
          {
            name: 'node',
            ready: false,
            restartCount: 3,
            image: 'i',
            imageID: '',
            state: waiting ? { waiting } : {},
          },
        ],
      },
    });
    const c = cluster();
    const starting = computeStatus(
      input(c, {
        statefulSet: sts(3, { readyReplicas: 1, updatedReplicas: 3 }),
        pods: [pod('demo-0'), pod('demo-1', { reason: 'ContainerCreating' })],
      }),
    );
    expect(cond(starting.conditions, 'Degraded')).toEqual({ status: 'False', reason: 'AsExpected' });
    expect(cond(starting.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Creating' });
    const failing = computeStatus(
      input(c, {
        statefulSet: sts(3, { readyReplicas: 1, updatedReplicas: 3 }),
        pods: [
          pod('demo-1', { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' }),
          pod('demo-2', { reason: 'ImagePullBackOff' }),
        ],
      }),
    );
    expect(findCondition(failing.conditions, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'PodsFailing',
      message:
        'demo-1: CrashLoopBackOff (back-off 40s restarting failed container); demo-2: ImagePullBackOff',
    });
  });

  it('a cluster that was held by a missing Secret is still Creating once the Secret exists', () => {
    const c = cluster();
    c.status = computeStatus(
      input(c, { statefulSet: undefined, problem: { reason: 'SecretNotFound', message: 'x' } }),
    );
    const s = computeStatus(input(c, { statefulSet: sts(3, { readyReplicas: 0, updatedReplicas: 3 }) }));
    expect(cond(s.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Creating' });
    expect(cond(s.conditions, 'Degraded')).toEqual({ status: 'False', reason: 'AsExpected' });
  });

  it('a missing Secret makes the cluster Degraded with the reason and message given', () => {
    const problem = {
      reason: 'SecretNotFound',
      message: 'Secret "pg-creds" (spec.postgres.credentialsSecret) not found in namespace "shop"',
    };
    const s = computeStatus(input(cluster(), { statefulSet: undefined, problem }));
    expect(findCondition(s.conditions, 'Degraded')).toMatchObject({ status: 'True', ...problem });
    expect(findCondition(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(cond(s.conditions, 'Progressing')).toEqual({ status: 'False', reason: 'SecretNotFound' });
  });

  it('nodes that cannot reach PostgreSQL are named, and the cluster is not Ready', () => {
    const s = computeStatus(
      input(cluster(), {
        reports: [report('demo-0'), report('demo-1', { postgresReachable: false }), report('demo-2')],
      }),
    );
    const pg = findCondition(s.conditions, 'PostgresReachable')!;
    expect(pg).toMatchObject({ status: 'False', reason: 'Unreachable' });
    expect(pg.message).toContain('demo-1 cannot reach PostgreSQL at pg.db.svc:5432');
    expect(cond(s.conditions, 'Ready')).toEqual({ status: 'False', reason: 'PostgresUnreachable' });
    expect(cond(s.conditions, 'Degraded')).toEqual({ status: 'True', reason: 'PostgresUnreachable' });
  });

  it('reports the legacy API from the nodes when it is configured', () => {
    const c = cluster({ legacyApi: { url: 'http://legacy:8000' } });
    const s = computeStatus(
      input(c, { reports: [report('demo-0', { legacyApiReachable: false }), report('demo-1')] }),
    );
    expect(findCondition(s.conditions, 'LegacyApiReachable')).toMatchObject({
      status: 'False',
      reason: 'Unreachable',
    });
  });

  it('RingConverged is False when nodes disagree or miss a member, Unknown when none answers', () => {
    const split = computeStatus(
      input(cluster(), { reports: [report('demo-0'), report('demo-1', { ringHash: 'h2' })] }),
    );
    expect(cond(split.conditions, 'RingConverged')).toEqual({ status: 'False', reason: 'RingMismatch' });
    const missing = computeStatus(
      input(cluster(), { reports: [report('demo-0', { members: ['demo-0', 'demo-1'] })] }),
    );
    expect(findCondition(missing.conditions, 'RingConverged')).toMatchObject({
      status: 'False',
      reason: 'MembersMismatch',
    });
    expect(findCondition(missing.conditions, 'RingConverged')!.message).toContain(
      'expected [demo-0, demo-1, demo-2]',
    );
    const silent = computeStatus(
      input(cluster(), { reports: [{ pod: 'demo-0', reachable: false, error: 'DEADLINE_EXCEEDED' }] }),
    );
    expect(findCondition(silent.conditions, 'RingConverged')).toMatchObject({
      status: 'Unknown',
      reason: 'NodesUnreachable',
    });
    expect(findCondition(silent.conditions, 'RingConverged')!.message).toContain('demo-0: DEADLINE_EXCEEDED');
  });

  it('Progressing tells draining, scaling down and rolling apart, and a blocked rollout is Degraded', () => {
    const base = input(cluster());
    const drain = computeStatus({
      ...base,
      scale: {
        phase: 'Draining',
        statefulSetReplicas: 5,
        leaving: ['demo-3', 'demo-4'],
        pending: ['demo-4'],
        status: { from: 5, to: 3, drained: ['demo-3'], startedAt: T0 },
        message: 'draining demo-4 before scaling down from 5 to 3 node(s)',
      },
    });
    expect(cond(drain.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'Draining' });
    expect(drain.scaleDown).toEqual({ from: 5, to: 3, drained: ['demo-3'], startedAt: T0 });
    const roll = computeStatus({
      ...base,
      rollout: { partition: 1, phase: 'Rolling', message: 'updating pod demo-1' },
    });
    expect(cond(roll.conditions, 'Progressing')).toEqual({ status: 'True', reason: 'RollingUpdate' });
    const blocked = computeStatus({ ...base, rollout: { partition: 3, phase: 'Blocked', message: 'W = N' } });
    expect(cond(blocked.conditions, 'Progressing')).toEqual({ status: 'False', reason: 'RolloutBlocked' });
    expect(cond(blocked.conditions, 'Degraded')).toEqual({ status: 'True', reason: 'RolloutBlocked' });
  });

  it('recomputing from the same observations changes nothing (so nothing is written)', () => {
    const c = cluster();
    c.status = computeStatus(input(c, { reports: [report('demo-0')] }));
    const again = computeStatus(input(c, { now: T1, reports: [report('demo-0')] }));
    expect(statusChanged(c.status, again)).toBe(false);
    const more = computeStatus(
      input(c, { now: T1, statefulSet: sts(3, { readyReplicas: 2, updatedReplicas: 3 }) }),
    );
    expect(statusChanged(c.status, more)).toBe(true);
  });
});
