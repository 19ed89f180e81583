// A prometheus-operator ServiceMonitor for the nodes' /metrics, built only
// when the user asked for it and the ServiceMonitor CRD is installed.
import type { KVCluster, KubeObject, ResolvedSpec } from '../api/types.js';
import type { BuildContext } from './context.js';
import { SERVICE_ROLE_LABEL, commonLabels, namesOf, ownerReference, selectorLabels } from './names.js';

export interface ServiceMonitor extends KubeObject {
  spec: {
    jobLabel: string;
    selector: { matchLabels: Record<string, string> };
    namespaceSelector: { matchNames: string[] };
    endpoints: { port: string; path: string; interval: string; scheme: string }[];
  };
}

export function buildServiceMonitor(
  cluster: KVCluster,
  spec: ResolvedSpec,
  ctx: BuildContext,
): ServiceMonitor | undefined {
  if (!spec.serviceMonitor.enabled || !ctx.serviceMonitorAvailable) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: {
      name: namesOf(cluster.metadata.name).serviceMonitor,
      namespace: cluster.metadata.namespace,
      // The user's labels first: ours identify the object and must not be overridden.
      labels: { ...spec.serviceMonitor.labels, ...commonLabels(cluster, spec.image) },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      // The headless Service lists every pod, ready or not: a struggling
      // node's metrics are the ones you need.
      selector: { matchLabels: { ...selectorLabels(cluster.metadata.name), [SERVICE_ROLE_LABEL]: 'peers' } },
      // job="kvring" whatever the cluster is called, as the alert rules and
      // the dashboard in manifests/monitoring expect.
      jobLabel: 'app.kubernetes.io/name',
      namespaceSelector: { matchNames: [cluster.metadata.namespace] },
      endpoints: [{ port: 'http', path: '/metrics', interval: spec.serviceMonitor.interval, scheme: 'http' }],
    },
  };
}
