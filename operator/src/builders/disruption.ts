// The PodDisruptionBudget: voluntary disruptions (node drains, evictions)
// may take at most maxUnavailable pods at once, which the CRD bounds by
// N - W so that every key keeps a write quorum.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { KVCluster, ResolvedSpec } from '../api/types.js';
import { commonLabels, namesOf, ownerReference, selectorLabels } from './names.js';

export function buildPodDisruptionBudget(
  cluster: KVCluster,
  spec: ResolvedSpec,
): V1PodDisruptionBudget | undefined {
  if (!spec.podDisruptionBudget.enabled) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: namesOf(cluster.metadata.name).podDisruptionBudget,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, spec.image),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      maxUnavailable: spec.podDisruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(cluster.metadata.name) },
      // A pod that is not ready holds no live replica: evicting it costs
      // nothing, and refusing would block node drains for no gain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
