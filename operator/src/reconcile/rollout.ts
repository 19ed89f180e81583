// Rolling updates, one pod at a time and never below the write quorum.
//
// Why the StatefulSet's RollingUpdate partition and not OnDelete: with a
// partition the StatefulSet controller still does the pod replacement and
// its bookkeeping (revisions, updatedReplicas, `kubectl rollout status`),
// and the progress of a rollout is stored in the StatefulSet itself, so it
// survives an operator restart or a new leader. The operator only decides
// *when* the next pod may go: it lowers the partition by one when every
// pod is ready, the pod just replaced runs the new revision, and the ring
// has converged. OnDelete would make the operator delete pods itself and
// keep that progress somewhere else, for no gain.
//
// Taking one pod down leaves each of its keys N - 1 live replicas; writes
// need W of them, so a rollout proceeds only when N - 1 >= W and no other
// pod is down. With W = N no pod can restart without failing writes for
// its keys: the rollout stops and says so.
import type { V1StatefulSet, V1StatefulSetStatus } from '@kubernetes/client-node';
import { ANNOTATIONS } from '../builders/names.js';
import type { NodeReport } from './node-report.js';

export type RolloutPhase =
  /** No StatefulSet yet, or nothing to roll. */
  | 'Idle'
  /** The template changed: every pod is held at its revision until the next step. */
  | 'Started'
  /** A pod is being replaced, or the next one may go now. */
  | 'Rolling'
  /** Waiting for pods to be ready (or the StatefulSet controller to catch up). */
  | 'Waiting'
  /** W = N: no pod can go down without failing writes. */
  | 'Blocked';

export interface RolloutInput {
  observed: V1StatefulSet | undefined;
  desiredTemplateHash: string;
  replicationFactor: number;
  writeQuorum: number;
  /** false when the nodes report different rings or see an owner down (ringSettled); undefined when unknown. */
  ringConverged: boolean | undefined;
}

export interface RolloutPlan {
  partition: number;
  phase: RolloutPhase;
  message: string;
  /** The pod the step just released for replacement, if any. */
  updating?: string;
}

/**
 * Whether the next pod may go as far as the nodes can tell: every node that
 * answered reports one ring hash, and none sees a ring owner down. A pod
 * just replaced builds the same ring at once, but its peers reach it only
 * once their streams to it are up again; taking the next pod before that
 * leaves some keys one replica short of W in some node's view (writes in
 * doubt, "only 1 of 3 replicas up"). undefined: no node answered.
 */
export function ringSettled(reports: readonly NodeReport[]): boolean | undefined {
  const answered = reports.filter((r) => r.reachable && r.info);
  if (answered.length === 0) return undefined;
  const hashes = new Set(answered.map((r) => r.info!.ringHash));
  return hashes.size === 1 && answered.every((r) => (r.info!.ownersDown ?? []).length === 0);
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const sts = input.observed;
  if (!sts) return { partition: 0, phase: 'Idle', message: 'creating the StatefulSet' };
  const name = sts.metadata?.name ?? '';
  const replicas = sts.spec?.replicas ?? 0;
  const current = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (sts.metadata?.annotations?.[ANNOTATIONS.templateHash] !== input.desiredTemplateHash) {
    if (replicas === 0) return { partition: 0, phase: 'Idle', message: 'no pods to update' };
    return {
      partition: replicas,
      phase: 'Started',
      message: `pod template changed: updating ${replicas} pod(s) one at a time, highest ordinal first`,
    };
  }
  if (current <= 0) return { partition: 0, phase: 'Idle', message: 'all pods run the current template' };
  // The partition may exceed replicas after a scale-down: clamp it.
  const partition = Math.min(current, replicas);
  if (partition <= 0) return { partition: 0, phase: 'Idle', message: 'all pods run the current template' };

  const st: Partial<V1StatefulSetStatus> = sts.status ?? {};
  if ((st.observedGeneration ?? 0) < (sts.metadata?.generation ?? 0))
    return {
      partition,
      phase: 'Waiting',
      message: 'waiting for the StatefulSet controller to observe the new template',
    };
  const expectedUpdated = replicas - partition;
  if ((st.updatedReplicas ?? 0) < expectedUpdated)
    return {
      partition,
      phase: 'Waiting',
      message: `waiting for pod ${name}-${partition} to be replaced (${st.updatedReplicas ?? 0}/${replicas} updated)`,
    };
  if ((st.readyReplicas ?? 0) < replicas)
    return {
      partition,
      phase: 'Waiting',
      message: `waiting for every pod to be ready before the next one goes (${st.readyReplicas ?? 0}/${replicas} ready)`,
    };
  if (input.ringConverged === false)
    return {
      partition,
      phase: 'Waiting',
      message:
        'waiting for the ring to converge (one ring, every owner up in every view) before the next pod goes',
    };
  if (input.replicationFactor - 1 < input.writeQuorum)
    return {
      partition,
      phase: 'Blocked',
      message:
        `writeQuorum W=${input.writeQuorum} equals replicationFactor N=${input.replicationFactor}: restarting ` +
        `any pod would fail writes to its keys. Lower writeQuorum (keeping R + W > N) to let the update proceed`,
    };
  const next = partition - 1;
  return {
    partition: next,
    phase: 'Rolling',
    message: `updating pod ${name}-${next} (${replicas - next}/${replicas})`,
    updating: `${name}-${next}`,
  };
}
