// The resource types the operator reads and writes, and their REST paths.
import type { KubeObject } from '../api/types.js';

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const rt = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced = true,
): ResourceType => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

export const RESOURCES = {
  kvCluster: rt('kvring.dev', 'v1alpha1', 'KVCluster', 'kvclusters'),
  statefulSet: rt('apps', 'v1', 'StatefulSet', 'statefulsets'),
  service: rt('', 'v1', 'Service', 'services'),
  configMap: rt('', 'v1', 'ConfigMap', 'configmaps'),
  secret: rt('', 'v1', 'Secret', 'secrets'),
  pod: rt('', 'v1', 'Pod', 'pods'),
  podDisruptionBudget: rt('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  serviceMonitor: rt('monitoring.coreos.com', 'v1', 'ServiceMonitor', 'servicemonitors'),
  certificate: rt('cert-manager.io', 'v1', 'Certificate', 'certificates'),
  lease: rt('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  event: rt('events.k8s.io', 'v1', 'Event', 'events'),
  namespace: rt('', 'v1', 'Namespace', 'namespaces', false),
} as const;

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

function base(r: ResourceType): string {
  return r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
}

/** The collection path; without a namespace, across all namespaces. */
export function collectionPath(r: ResourceType, namespace?: string): string {
  if (r.namespaced && namespace) return `${base(r)}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`;
  return `${base(r)}/${r.plural}`;
}

export function objectPath(
  r: ResourceType,
  namespace: string | undefined,
  name: string,
  sub?: string,
): string {
  const p = `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
  return sub ? `${p}/${sub}` : p;
}

/** The resource type of a built object (only the kinds the operator builds). */
export function resourceOf(obj: KubeObject): ResourceType {
  const found = Object.values(RESOURCES).find(
    (r) => r.kind === obj.kind && apiVersionOf(r) === obj.apiVersion,
  );
  if (!found) throw new Error(`no resource type known for ${obj.apiVersion} ${obj.kind}`);
  return found;
}

/**
 * The resource a REST path addresses, for span names: "statefulsets",
 * "kvclusters/status", "namespaces", "monitoring.coreos.com/v1" (no names: a span name stays one of a
 * few values, whatever the object).
 */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [resource, , sub] = rest;
  // Discovery of a group version: /apis/<group>/<version>.
  if (!resource) return parts.slice(1).join('/');
  return sub ? `${resource}/${sub}` : resource;
}
