// The status of a KVCluster, computed from what the reconcile observed:
// pure, so every condition's logic is unit-tested without an API server.
import type { V1Pod, V1StatefulSet, V1StatefulSetStatus } from '@kubernetes/client-node';
import { CONDITION, setCondition, type ConditionUpdate } from '../api/conditions.js';
import type { Condition, KVCluster, KVClusterStatus, ResolvedSpec } from '../api/types.js';
import { stableStringify } from '../builders/hash.js';
import { selectorString } from '../builders/names.js';
import type { NodeReport } from './node-report.js';
import type { RolloutPlan } from './rollout.js';
import type { ScalePlan } from './scale-down.js';

/** A problem that needs a person: a missing Secret, an object the API server rejected. */
export interface Problem {
  reason: string;
  message: string;
}

export interface StatusInput {
  cluster: KVCluster;
  spec: ResolvedSpec;
  /** ISO time for new transitions. */
  now: string;
  /** The StatefulSet as last seen (undefined before it exists). */
  statefulSet: V1StatefulSet | undefined;
  problem?: Problem;
  rollout?: RolloutPlan;
  scale?: ScalePlan;
  /** One report per pod the operator asked; empty when none could be asked. */
  reports: readonly NodeReport[];
  /** The members the ring should have (the StatefulSet's pod names). */
  expectedMembers: readonly string[];
  /** Where PostgreSQL is, for messages. */
  postgresTarget: string;
  /** The cluster's pods, to tell a pod that is starting from one that is failing. */
  pods?: readonly V1Pod[];
}

/** Container states that will not resolve by waiting: a person has to look. */
const FAILING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** Reasons of problems reported before any node runs (the cluster has not been Ready yet). */
const PRE_NODE_REASONS = new Set([
  'Creating',
  'SecretNotFound',
  'SecretKeyMissing',
  'InvalidSpec',
  'ApplyFailed',
  'Forbidden',
]);

/** "demo-1: CrashLoopBackOff (back-off 5m0s restarting failed container)" for each failing pod. */
export function failingPods(pods: readonly V1Pod[]): string[] {
  const out: string[] = [];
  for (const p of pods) {
    for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = cs.state?.waiting;
      if (w?.reason && FAILING_REASONS.has(w.reason)) {
        out.push(`${p.metadata?.name}: ${w.reason}${w.message ? ` (${w.message.slice(0, 200)})` : ''}`);
        break;
      }
    }
  }
  return out;
}

export function computeStatus(input: StatusInput): KVClusterStatus {
  const { cluster, spec, statefulSet: sts } = input;
  const gen = cluster.metadata.generation;
  const prev = cluster.status ?? {};
  const st: Partial<V1StatefulSetStatus> = sts?.status ?? {};
  const replicas = st.replicas ?? 0;
  const ready = st.readyReplicas ?? 0;
  const updated = st.updatedReplicas ?? 0;

  const answered = input.reports.filter((r) => r.reachable && r.info);
  const ring = ringCondition(input, answered);
  const postgres = reachability(answered, 'postgresReachable', 'PostgreSQL', input.postgresTarget);
  const legacy = spec.legacyApi
    ? reachability(answered, 'legacyApiReachable', 'the legacy API', spec.legacyApi.url)
    : {
        type: CONDITION.LegacyApiReachable,
        status: 'True' as const,
        reason: 'NotConfigured',
        message: 'spec.legacyApi is not set: read-through to a legacy API is disabled',
      };

  const progressing = progressingCondition(input, ready);
  const degraded = degradedCondition(input, postgres, progressing.status === 'True', ready);

  const readyCond = readyCondition(input, ready, postgres);

  let conditions: Condition[] = prev.conditions ?? [];
  for (const c of [readyCond, progressing, degraded, ring, postgres, legacy])
    conditions = setCondition(conditions, c, gen, input.now);

  const ringMembers = majorityRing(answered);
  const status: KVClusterStatus = {
    ...(gen !== undefined && { observedGeneration: gen }),
    replicas,
    readyReplicas: ready,
    updatedReplicas: updated,
    selector: selectorString(cluster.metadata.name),
    quorum: `${spec.replicationFactor}/${spec.readQuorum}/${spec.writeQuorum}`,
    ...(ringMembers && { ringMembers: ringMembers.members, ringHash: ringMembers.hash }),
    ...(input.scale?.status && { scaleDown: input.scale.status }),
    conditions,
  };
  return status;
}

/** True when writing `next` would change what is stored. */
export function statusChanged(prev: KVClusterStatus | undefined, next: KVClusterStatus): boolean {
  return stableStringify(prev ?? {}) !== stableStringify(next);
}

function progressingCondition(input: StatusInput, ready: number): ConditionUpdate {
  const T = (reason: string, message: string): ConditionUpdate => ({
    type: CONDITION.Progressing,
    status: 'True',
    reason,
    message,
  });
  const desired = input.spec.replicas;
  if (input.problem && !input.statefulSet)
    return {
      type: CONDITION.Progressing,
      status: 'False',
      reason: input.problem.reason,
      message: `cannot create the cluster: ${input.problem.message}`,
    };
  if (!input.statefulSet) return T('Creating', `creating ${desired} node(s)`);
  const scale = input.scale;
  if (scale?.phase === 'Draining') return T('Draining', scale.message);
  if (scale?.phase === 'ScalingDown') return T('ScalingDown', scale.message);
  const rollout = input.rollout;
  if (rollout?.phase === 'Blocked')
    return {
      type: CONDITION.Progressing,
      status: 'False',
      reason: 'RolloutBlocked',
      message: rollout.message,
    };
  if (rollout && rollout.phase !== 'Idle') return T('RollingUpdate', rollout.message);
  const stsReplicas = input.statefulSet.spec?.replicas ?? 0;
  const observed = input.statefulSet.status?.replicas ?? 0;
  if (ready < desired && initialCreation(input.cluster))
    return T('Creating', `${ready}/${desired} node(s) ready`);
  if (scale?.phase === 'ScalingUp' || observed < stsReplicas)
    return T('ScalingUp', `scaling up: ${ready}/${desired} node(s) ready`);
  return {
    type: CONDITION.Progressing,
    status: 'False',
    reason: 'UpToDate',
    message: `the cluster matches its spec (${desired} node(s), N/R/W ${input.spec.replicationFactor}/${input.spec.readQuorum}/${input.spec.writeQuorum})`,
  };
}

/** The cluster has not been Ready since it was created (as far as its Ready condition tells). */
function initialCreation(cluster: KVCluster): boolean {
  const ready = (cluster.status?.conditions ?? []).find((c) => c.type === CONDITION.Ready);
  return !ready || (ready.status !== 'True' && PRE_NODE_REASONS.has(ready.reason));
}

function degradedCondition(
  input: StatusInput,
  postgres: ConditionUpdate,
  progressing: boolean,
  ready: number,
): ConditionUpdate {
  const D = (reason: string, message: string): ConditionUpdate => ({
    type: CONDITION.Degraded,
    status: 'True',
    reason,
    message,
  });
  if (input.problem) return D(input.problem.reason, input.problem.message);
  const failing = failingPods(input.pods ?? []);
  if (failing.length > 0) return D('PodsFailing', failing.join('; '));
  if (postgres.status === 'False') return D('PostgresUnreachable', postgres.message);
  if (input.rollout?.phase === 'Blocked') return D('RolloutBlocked', input.rollout.message);
  const desired = input.spec.replicas;
  if (input.statefulSet && !progressing && ready < desired)
    return D(
      'NodesNotReady',
      `${ready}/${desired} node(s) ready; see \`kubectl describe pod -l ${selectorString(input.cluster.metadata.name)}\``,
    );
  return { type: CONDITION.Degraded, status: 'False', reason: 'AsExpected', message: 'no problem detected' };
}

function readyCondition(input: StatusInput, ready: number, postgres: ConditionUpdate): ConditionUpdate {
  const F = (reason: string, message: string): ConditionUpdate => ({
    type: CONDITION.Ready,
    status: 'False',
    reason,
    message,
  });
  const desired = input.spec.replicas;
  if (input.problem) return F(input.problem.reason, input.problem.message);
  if (!input.statefulSet) return F('Creating', `creating ${desired} node(s)`);
  if (ready < desired)
    return F(
      initialCreation(input.cluster) ? 'Creating' : 'NodesNotReady',
      `${ready}/${desired} node(s) ready`,
    );
  if (postgres.status === 'False') return F('PostgresUnreachable', postgres.message);
  return {
    type: CONDITION.Ready,
    status: 'True',
    reason: 'NodesReady',
    message: `${ready}/${desired} node(s) ready`,
  };
}

function ringCondition(input: StatusInput, answered: readonly NodeReport[]): ConditionUpdate {
  const type = CONDITION.RingConverged;
  if (answered.length === 0)
    return {
      type,
      status: 'Unknown',
      reason: input.reports.length === 0 ? 'NoNodes' : 'NodesUnreachable',
      message:
        input.reports.length === 0
          ? 'no running node to ask yet'
          : `no node answered ClusterInfo: ${firstErrors(input.reports)}`,
    };
  const expected = [...input.expectedMembers].sort();
  const hashes = new Set(answered.map((r) => r.info!.ringHash));
  const wrongMembers = answered.filter((r) => !sameMembers(r.info!.members, expected));
  if (hashes.size === 1 && wrongMembers.length === 0)
    return {
      type,
      status: 'True',
      reason: 'Converged',
      message: `${answered.length} node(s) report the same ring of ${expected.length} member(s)`,
    };
  if (wrongMembers.length > 0) {
    const r = wrongMembers[0]!;
    return {
      type,
      status: 'False',
      reason: 'MembersMismatch',
      message:
        `${wrongMembers.map((w) => w.pod).join(', ')} see members [${[...r.info!.members].sort().join(', ')}], ` +
        `expected [${expected.join(', ')}]; the nodes refresh membership from DNS`,
    };
  }
  return {
    type,
    status: 'False',
    reason: 'RingMismatch',
    message: `the nodes report ${hashes.size} different rings; they converge as membership settles`,
  };
}

function reachability(
  answered: readonly NodeReport[],
  field: 'postgresReachable' | 'legacyApiReachable',
  what: string,
  target: string,
): ConditionUpdate {
  const type = field === 'postgresReachable' ? CONDITION.PostgresReachable : CONDITION.LegacyApiReachable;
  if (answered.length === 0)
    return {
      type,
      status: 'Unknown',
      reason: 'NoNodeReports',
      message: `no node has reported on ${what} yet`,
    };
  const failing = answered.filter((r) => !r.info![field]).map((r) => r.pod);
  if (failing.length === 0)
    return {
      type,
      status: 'True',
      reason: 'Reachable',
      message: `${answered.length} node(s) reach ${what} at ${target}`,
    };
  return {
    type,
    status: 'False',
    reason: 'Unreachable',
    message: `${failing.join(', ')} cannot reach ${what} at ${target}: check the address, credentials and network policies`,
  };
}

function sameMembers(a: readonly string[], sortedExpected: readonly string[]): boolean {
  if (a.length !== sortedExpected.length) return false;
  const s = [...a].sort();
  return s.every((m, i) => m === sortedExpected[i]);
}

function majorityRing(answered: readonly NodeReport[]): { hash: string; members: string[] } | undefined {
  const counts = new Map<string, { n: number; members: string[] }>();
  for (const r of answered) {
    const e = counts.get(r.info!.ringHash) ?? { n: 0, members: [...r.info!.members].sort() };
    e.n++;
    counts.set(r.info!.ringHash, e);
  }
  let best: { hash: string; members: string[]; n: number } | undefined;
  for (const [hash, e] of counts) if (!best || e.n > best.n) best = { hash, members: e.members, n: e.n };
  return best && { hash: best.hash, members: best.members };
}

function firstErrors(reports: readonly NodeReport[]): string {
  return reports
    .slice(0, 3)
    .map((r) => `${r.pod}: ${r.error ?? 'no answer'}`)
    .join('; ');
}
