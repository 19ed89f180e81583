// Scale-down without losing warmth: the leaving pods (the highest
// ordinals) first stream their keys to the members that own them once they
// are gone (AdminService.Drain); only when each one has drained does the
// StatefulSet shrink. Writes are never at risk (PostgreSQL holds every
// acknowledged write); a pod that cannot drain (not running, or the drain
// timed out) costs warmth only, so the scale-down then proceeds with a
// warning rather than hanging forever.
import type { ScaleDownStatus } from '../api/types.js';

export type ScalePhase = 'Steady' | 'ScalingUp' | 'Draining' | 'ScalingDown';

export interface ScaleInput {
  /** spec.replicas */
  desired: number;
  /** spec.replicas of the existing StatefulSet; undefined before it exists. */
  current: number | undefined;
  /** status.scaleDown as last written. */
  previous: ScaleDownStatus | undefined;
  statefulSetName: string;
  /** Leaving pods whose drain finished (or was skipped) in this reconcile. */
  drainedNow: readonly string[];
  now: string;
}

export interface ScalePlan {
  phase: ScalePhase;
  /** spec.replicas to give the StatefulSet. */
  statefulSetReplicas: number;
  /** Pods that must drain before the StatefulSet shrinks. */
  leaving: string[];
  /** Leaving pods not drained yet. */
  pending: string[];
  /** What to store in status.scaleDown (undefined clears it). */
  status: ScaleDownStatus | undefined;
  message: string;
}

export function planScale(input: ScaleInput): ScalePlan {
  const { desired, current } = input;
  if (current === undefined || desired >= current) {
    return {
      phase: current !== undefined && desired > current ? 'ScalingUp' : 'Steady',
      statefulSetReplicas: desired,
      leaving: [],
      pending: [],
      status: undefined,
      message:
        current !== undefined && desired > current
          ? `scaling up from ${current} to ${desired} node(s)`
          : `${desired} node(s)`,
    };
  }
  const leaving = Array.from(
    { length: current - desired },
    (_, i) => `${input.statefulSetName}-${desired + i}`,
  );
  // A drain hands keys to the owners outside the leaving set: if the target
  // changed, earlier drains went to pods that may now be leaving too.
  const prev = input.previous && input.previous.to === desired ? input.previous : undefined;
  const drained = new Set([...(prev?.drained ?? []), ...input.drainedNow].filter((p) => leaving.includes(p)));
  const pending = leaving.filter((p) => !drained.has(p));
  const status: ScaleDownStatus = {
    from: prev?.from ?? current,
    to: desired,
    drained: leaving.filter((p) => drained.has(p)),
    startedAt: prev?.startedAt ?? input.now,
  };
  if (pending.length > 0)
    return {
      phase: 'Draining',
      statefulSetReplicas: current,
      leaving,
      pending,
      status,
      message: `draining ${pending.join(', ')} before scaling down from ${current} to ${desired} node(s)`,
    };
  return {
    phase: 'ScalingDown',
    statefulSetReplicas: desired,
    leaving,
    pending,
    status,
    message: `${leaving.join(', ')} drained: scaling down from ${current} to ${desired} node(s)`,
  };
}
