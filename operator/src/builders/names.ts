// Names and labels of everything built for a cluster. Names derive from the
// KVCluster's name only, so they are stable and predictable for users
// (`<name>-0` is a pod, `<name>` the client Service).
import { FIELD_MANAGER, type KVCluster, type OwnerReference } from '../api/types.js';

export const PORTS = { client: 50051, peer: 50052, http: 8080 } as const;

export const ANNOTATIONS = {
  templateHash: 'kvring.dev/template-hash',
  configHash: 'kvring.dev/config-hash',
  secretsHash: 'kvring.dev/secrets-hash',
} as const;

/** Label that tells the two Services apart (the ServiceMonitor selects one). */
export const SERVICE_ROLE_LABEL = 'kvring.dev/service';

export interface ObjectNames {
  statefulSet: string;
  peerService: string;
  clientService: string;
  configMap: string;
  podDisruptionBudget: string;
  serviceMonitor: string;
  certificate: string;
}

export function namesOf(clusterName: string): ObjectNames {
  return {
    statefulSet: clusterName,
    peerService: `${clusterName}-peers`,
    clientService: clusterName,
    configMap: `${clusterName}-config`,
    podDisruptionBudget: clusterName,
    serviceMonitor: clusterName,
    certificate: `${clusterName}-tls`,
  };
}

/** The pod names of a StatefulSet of `replicas` pods: the ring's members. */
export function podNames(clusterName: string, replicas: number): string[] {
  return Array.from({ length: replicas }, (_, i) => `${namesOf(clusterName).statefulSet}-${i}`);
}

/** Labels that select the pods of one cluster; immutable once the StatefulSet exists. */
export function selectorLabels(clusterName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'kvring', 'app.kubernetes.io/instance': clusterName };
}

export function selectorString(clusterName: string): string {
  return Object.entries(selectorLabels(clusterName))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The recommended app.kubernetes.io/* labels of every object. */
export function commonLabels(cluster: KVCluster, image: string): Record<string, string> {
  const labels: Record<string, string> = {
    ...selectorLabels(cluster.metadata.name),
    'app.kubernetes.io/component': 'cache',
    'app.kubernetes.io/part-of': 'kvring',
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
  };
  const version = imageTag(image);
  if (version) labels['app.kubernetes.io/version'] = version;
  return labels;
}

/** The tag of an image reference when it is a valid label value (no digest, <= 63 chars). */
export function imageTag(image: string): string | undefined {
  if (image.includes('@')) return undefined;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= lastSlash) return undefined;
  const tag = image.slice(colon + 1);
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(tag) ? tag : undefined;
}

export function ownerReference(cluster: KVCluster): OwnerReference {
  return {
    apiVersion: cluster.apiVersion ?? 'kvring.dev/v1alpha1',
    kind: cluster.kind ?? 'KVCluster',
    name: cluster.metadata.name,
    uid: cluster.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** DNS name of the headless Service, which the nodes discover each other by. */
export function peerServiceFqdn(cluster: KVCluster, clusterDomain: string): string {
  return `${namesOf(cluster.metadata.name).peerService}.${cluster.metadata.namespace}.svc.${clusterDomain}`;
}
