// What the builders need beyond the spec: facts the reconciler observed or
// decided (how many pods the StatefulSet should have while a scale-down
// drains, the rollout partition, whether the ServiceMonitor CRD exists).
// Builders stay pure: same cluster + same context = same objects.

export interface BuildContext {
  /** DNS suffix of the cluster (cluster.local). */
  clusterDomain: string;
  /** spec.replicas of the StatefulSet (> spec.replicas while leaving pods drain). */
  statefulSetReplicas: number;
  /** Pods with an ordinal >= partition run the current template (see reconcile/rollout.ts). */
  partition: number;
  /**
   * Digest of the versions of the Secrets the pods read once, as environment
   * variables (PostgreSQL, legacy token): a change rolls the pods. The TLS
   * and client-token Secrets are files the nodes reload: not in it.
   */
  secretsHash: string;
  /** The TLS Secret holds ca.crt (mutual TLS between members). */
  tlsHasCa: boolean;
  /** The monitoring.coreos.com/v1 ServiceMonitor kind is served. */
  serviceMonitorAvailable: boolean;
}

export function defaultContext(replicas: number, overrides: Partial<BuildContext> = {}): BuildContext {
  return {
    clusterDomain: 'cluster.local',
    statefulSetReplicas: replicas,
    partition: 0,
    secretsHash: '',
    tlsHasCa: false,
    serviceMonitorAvailable: false,
    ...overrides,
  };
}
