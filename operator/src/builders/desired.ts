// Everything a KVCluster should own, from its spec and the reconciler's
// context: spec in, objects out, no I/O (model: CloudNativePG's pkg/specs).
import type { V1ConfigMap, V1PodDisruptionBudget, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { withDefaults, type KVCluster, type ResolvedSpec } from '../api/types.js';
import { buildCertificate, type Certificate } from './certificate.js';
import { buildConfigMap } from './config.js';
import type { BuildContext } from './context.js';
import { buildPodDisruptionBudget } from './disruption.js';
import { buildServiceMonitor, type ServiceMonitor } from './service-monitor.js';
import { buildClientService, buildPeerService } from './services.js';
import { buildStatefulSet } from './statefulset.js';

export interface DesiredObjects {
  spec: ResolvedSpec;
  configMap: V1ConfigMap;
  peerService: V1Service;
  clientService: V1Service;
  statefulSet: V1StatefulSet;
  /** Undefined when disabled: an existing one is deleted. */
  podDisruptionBudget: V1PodDisruptionBudget | undefined;
  /** Undefined when disabled or when the CRD is missing. */
  serviceMonitor: ServiceMonitor | undefined;
  /** Undefined unless spec.tls names a cert-manager issuer. */
  certificate: Certificate | undefined;
}

export function desiredObjects(cluster: KVCluster, ctx: BuildContext): DesiredObjects {
  const spec = withDefaults(cluster.spec);
  return {
    spec,
    configMap: buildConfigMap(cluster, spec, ctx),
    peerService: buildPeerService(cluster, spec),
    clientService: buildClientService(cluster, spec),
    statefulSet: buildStatefulSet(cluster, spec, ctx),
    podDisruptionBudget: buildPodDisruptionBudget(cluster, spec),
    serviceMonitor: buildServiceMonitor(cluster, spec, ctx),
    certificate: buildCertificate(cluster, spec, ctx.clusterDomain),
  };
}
