// Conditions of the standard shape (metav1.Condition): the status of each
// type only moves lastTransitionTime when it changes, so `kubectl wait` and
// alerting see real transitions, not every reconcile.
import type { Condition, ConditionStatus } from './types.js';

export const CONDITION = {
  /** All desired nodes are ready and serving. */
  Ready: 'Ready',
  /** The operator is moving the cluster towards its spec (create, scale, drain, roll). */
  Progressing: 'Progressing',
  /** Something needs a person: a bad reference, a rejected object, an unreachable dependency. */
  Degraded: 'Degraded',
  /** Every reachable node reports the same ring, made of the expected members. */
  RingConverged: 'RingConverged',
  /** Every reachable node reports PostgreSQL reachable. */
  PostgresReachable: 'PostgresReachable',
  /** Every reachable node reports the legacy API reachable (True/NotConfigured when unset). */
  LegacyApiReachable: 'LegacyApiReachable',
} as const;

export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

/** Order in which conditions are listed in the status. */
export const CONDITION_ORDER: readonly ConditionType[] = [
  CONDITION.Ready,
  CONDITION.Progressing,
  CONDITION.Degraded,
  CONDITION.RingConverged,
  CONDITION.PostgresReachable,
  CONDITION.LegacyApiReachable,
];

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Returns `conditions` with `update` applied: a new entry, or the existing
 * one with the new reason and message, keeping lastTransitionTime unless
 * the status changed.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  generation: number | undefined,
  now: string,
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    type: update.type,
    status: update.status,
    ...(generation !== undefined && { observedGeneration: generation }),
    lastTransitionTime: existing && existing.status === update.status ? existing.lastTransitionTime : now,
    reason: update.reason,
    message: update.message,
  };
  const out = conditions.filter((c) => c.type !== update.type);
  out.push(next);
  return sortConditions(out);
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

function sortConditions(conditions: Condition[]): Condition[] {
  const rank = (t: string): number => {
    const i = CONDITION_ORDER.indexOf(t as ConditionType);
    return i < 0 ? CONDITION_ORDER.length : i;
  };
  return conditions.sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}
