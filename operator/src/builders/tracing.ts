// spec.tracing as the standard OpenTelemetry variables the node's SDK reads
// (OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER*, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES). They go in the container's env, not the
// ConfigMap: the resource attributes name the pod through the downward API
// ($(VAR) is expanded in env values only, never in envFrom), and the
// exporter's headers come from a Secret by reference.
import type { V1EnvVar } from '@kubernetes/client-node';
import type { KVCluster, ResolvedSpec } from '../api/types.js';
import { namesOf } from './names.js';

/** service.name of every node's spans, whatever the cluster is called. */
export const NODE_SERVICE_NAME = 'kvring-node';

/** Parent-based: a request whose caller sampled it is always traced; the ratio applies to the rest. */
export const NODE_SAMPLER = 'parentbased_traceidratio';

/** Downward-API variables the resource attributes refer to. */
export const DOWNWARD = { namespace: 'K8S_POD_NAMESPACE', node: 'K8S_NODE_NAME' } as const;

/** The node's own variable holding its pod name (config.ts puts it first). */
const POD_NAME_ENV = 'KVRING_NODE_NAME';

/**
 * Resource attributes the operator sets itself: a user's resourceAttributes
 * may not replace them (spec-check refuses), or the spans of two pods would
 * no longer be told apart.
 */
export const OWN_RESOURCE_ATTRIBUTES: readonly string[] = [
  'service.name',
  'k8s.namespace.name',
  'k8s.pod.name',
  'k8s.node.name',
  'k8s.statefulset.name',
];

/**
 * One OTEL_RESOURCE_ATTRIBUTES entry. The format splits on ',' and '=' and
 * percent-decodes keys and values, so both are percent-encoded here (which
 * also turns a '$' into %24: no user value can trigger $(VAR) expansion).
 */
function attribute(key: string, value: string): string {
  return `${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
}

/** OTEL_RESOURCE_ATTRIBUTES: the user's (sorted, for a stable pod template), then the pod's identity. */
export function resourceAttributes(cluster: KVCluster, spec: ResolvedSpec): string {
  const user = Object.entries(spec.tracing?.resourceAttributes ?? {})
    .filter(([k]) => !OWN_RESOURCE_ATTRIBUTES.includes(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => attribute(k, v));
  return [
    ...user,
    attribute('k8s.statefulset.name', namesOf(cluster.metadata.name).statefulSet),
    // Downward-API values are DNS names: nothing in them needs encoding.
    `k8s.namespace.name=$(${DOWNWARD.namespace})`,
    `k8s.pod.name=$(${POD_NAME_ENV})`,
    `k8s.node.name=$(${DOWNWARD.node})`,
  ].join(',');
}

/** The tracing variables of a node container; none when spec.tracing is unset (tracing off). */
export function tracingEnv(cluster: KVCluster, spec: ResolvedSpec): V1EnvVar[] {
  const t = spec.tracing;
  if (!t) return [];
  const env: V1EnvVar[] = [
    // Referenced by OTEL_RESOURCE_ATTRIBUTES below: they must come first.
    { name: DOWNWARD.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: DOWNWARD.node, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'OTEL_SERVICE_NAME', value: NODE_SERVICE_NAME },
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: t.endpoint },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: t.protocol },
    { name: 'OTEL_TRACES_SAMPLER', value: NODE_SAMPLER },
    { name: 'OTEL_TRACES_SAMPLER_ARG', value: String(t.samplingRatio) },
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: resourceAttributes(cluster, spec) },
  ];
  if (t.headersSecret)
    env.push({
      name: 'OTEL_EXPORTER_OTLP_HEADERS',
      valueFrom: { secretKeyRef: { name: t.headersSecret.name, key: t.headersSecret.key } },
    });
  return env;
}
