// The KVCluster resource as TypeScript sees it (crds/kvring.dev_kvclusters.yaml
// is the schema the API server enforces; keep the two in step). The API
// server applies the CRD's defaults, but the operator never trusts that it
// did: withDefaults() fills the same defaults, so an object written before a
// default existed still reconciles.

export const GROUP = 'kvring.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'KVCluster';
export const PLURAL = 'kvclusters';
export const FIELD_MANAGER = 'kvring-operator';
export const DEFAULT_IMAGE = 'kvring/node:0.1.0';

export interface SecretKeyRef {
  name: string;
  key?: string;
}

export interface KVClusterSpec {
  replicas?: number;
  replicationFactor?: number;
  readQuorum?: number;
  writeQuorum?: number;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  imagePullSecrets?: { name: string }[];
  resources?: {
    limits?: Record<string, string | number>;
    requests?: Record<string, string | number>;
  };
  cache?: { maxMemory?: string; defaultTTL?: string };
  postgres: {
    host?: string;
    port?: number;
    database?: string;
    table?: string;
    credentialsSecret?: { name: string; usernameKey?: string; passwordKey?: string };
    urlSecret?: SecretKeyRef;
  };
  legacyApi?: { url: string; pathTemplate?: string; timeout?: string; tokenSecret?: SecretKeyRef };
  tls?: {
    secretName: string;
    /** cert-manager issues the Secret: the operator creates the Certificate. */
    issuerRef?: { name: string; kind?: 'Issuer' | 'ClusterIssuer'; group?: string };
    duration?: string;
    renewBefore?: string;
  };
  auth?: { tokenSecret: SecretKeyRef };
  monitoring?: { serviceMonitor?: { enabled?: boolean; interval?: string; labels?: Record<string, string> } };
  podDisruptionBudget?: { enabled?: boolean; maxUnavailable?: number };
  scheduling?: {
    // core/v1 types kept opaque: the API server validates them when the
    // StatefulSet is applied (see the CRD's x-kubernetes-preserve-unknown-fields).
    affinity?: Record<string, unknown>;
    tolerations?: Record<string, unknown>[];
    nodeSelector?: Record<string, string>;
    topologySpreadConstraints?: Record<string, unknown>[];
    priorityClassName?: string;
  };
  podAnnotations?: Record<string, string>;
  podLabels?: Record<string, string>;
  shutdownTimeoutSeconds?: number;
  extraEnv?: { name: string; value?: string }[];
  tracing?: TracingSpec;
}

/** OTLP protocols the node's exporter speaks (OTEL_EXPORTER_OTLP_PROTOCOL). */
export const TRACING_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type TracingProtocol = (typeof TRACING_PROTOCOLS)[number];

/** spec.tracing: where the nodes send their spans (OpenTelemetry, OTLP). */
export interface TracingSpec {
  endpoint: string;
  protocol?: TracingProtocol;
  samplingRatio?: number;
  headersSecret?: SecretKeyRef;
  resourceAttributes?: Record<string, string>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ScaleDownStatus {
  from: number;
  to: number;
  drained?: string[];
  startedAt?: string;
}

export interface KVClusterStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  selector?: string;
  quorum?: string;
  ringMembers?: string[];
  ringHash?: string;
  scaleDown?: ScaleDownStatus;
  conditions?: Condition[];
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  managedFields?: unknown[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KVCluster extends KubeObject {
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: KVClusterSpec;
  status?: KVClusterStatus;
}

/** The spec with every default filled in (what the builders read). */
export interface ResolvedSpec {
  replicas: number;
  replicationFactor: number;
  readQuorum: number;
  writeQuorum: number;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  imagePullSecrets: { name: string }[];
  resources: NonNullable<KVClusterSpec['resources']>;
  cache: { maxMemory: string; defaultTTL: string };
  postgres: {
    host: string;
    port: number;
    database: string;
    table: string;
    credentialsSecret?: { name: string; usernameKey: string; passwordKey: string };
    urlSecret?: { name: string; key: string };
  };
  legacyApi?: {
    url: string;
    pathTemplate: string;
    timeout: string;
    tokenSecret?: { name: string; key: string };
  };
  tls?: {
    secretName: string;
    issuerRef?: { name: string; kind: 'Issuer' | 'ClusterIssuer'; group: string };
    duration?: string;
    renewBefore?: string;
  };
  auth?: { tokenSecret: { name: string; key: string } };
  serviceMonitor: { enabled: boolean; interval: string; labels: Record<string, string> };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number };
  scheduling: NonNullable<KVClusterSpec['scheduling']>;
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  shutdownTimeoutSeconds: number;
  extraEnv: { name: string; value: string }[];
  tracing?: {
    endpoint: string;
    protocol: TracingProtocol;
    samplingRatio: number;
    headersSecret?: { name: string; key: string };
    resourceAttributes: Record<string, string>;
  };
}

function resolveTls(tls: NonNullable<KVClusterSpec['tls']>): NonNullable<ResolvedSpec['tls']> {
  const ref = tls.issuerRef;
  return {
    secretName: tls.secretName,
    ...(ref && {
      issuerRef: { name: ref.name, kind: ref.kind ?? 'Issuer', group: ref.group ?? 'cert-manager.io' },
    }),
    ...(tls.duration && { duration: tls.duration }),
    ...(tls.renewBefore && { renewBefore: tls.renewBefore }),
  };
}

/** Defaults of spec.tracing (the CRD's too). */
export const TRACING_DEFAULTS = {
  protocol: 'http/protobuf' as TracingProtocol,
  // Low: at 1 in 100 requests the nodes' overhead stays within noise, and
  // a request whose caller traces it is always followed (parent-based).
  samplingRatio: 0.01,
  headersKey: 'headers',
};

export function withDefaults(spec: KVClusterSpec): ResolvedSpec {
  const pg = spec.postgres ?? {};
  const legacy = spec.legacyApi;
  const sm = spec.monitoring?.serviceMonitor ?? {};
  return {
    replicas: spec.replicas ?? 3,
    replicationFactor: spec.replicationFactor ?? 3,
    readQuorum: spec.readQuorum ?? 2,
    writeQuorum: spec.writeQuorum ?? 2,
    image: spec.image || DEFAULT_IMAGE,
    imagePullPolicy: spec.imagePullPolicy ?? 'IfNotPresent',
    imagePullSecrets: spec.imagePullSecrets ?? [],
    resources: spec.resources ?? {},
    cache: { maxMemory: spec.cache?.maxMemory ?? '256Mi', defaultTTL: spec.cache?.defaultTTL ?? '0s' },
    postgres: {
      host: pg.host ?? '',
      port: pg.port ?? 5432,
      database: pg.database ?? 'kvring',
      table: pg.table ?? 'kv_store',
      ...(pg.credentialsSecret && {
        credentialsSecret: {
          name: pg.credentialsSecret.name,
          usernameKey: pg.credentialsSecret.usernameKey ?? 'username',
          passwordKey: pg.credentialsSecret.passwordKey ?? 'password',
        },
      }),
      ...(pg.urlSecret && { urlSecret: { name: pg.urlSecret.name, key: pg.urlSecret.key ?? 'url' } }),
    },
    ...(legacy && {
      legacyApi: {
        url: legacy.url,
        pathTemplate: legacy.pathTemplate ?? '/legacy/data/{key}',
        timeout: legacy.timeout ?? '2s',
        ...(legacy.tokenSecret && {
          tokenSecret: { name: legacy.tokenSecret.name, key: legacy.tokenSecret.key ?? 'token' },
        }),
      },
    }),
    ...(spec.tls && { tls: resolveTls(spec.tls) }),
    ...(spec.auth && {
      auth: { tokenSecret: { name: spec.auth.tokenSecret.name, key: spec.auth.tokenSecret.key ?? 'token' } },
    }),
    serviceMonitor: { enabled: sm.enabled ?? false, interval: sm.interval ?? '30s', labels: sm.labels ?? {} },
    podDisruptionBudget: {
      enabled: spec.podDisruptionBudget?.enabled ?? true,
      maxUnavailable: spec.podDisruptionBudget?.maxUnavailable ?? 1,
    },
    scheduling: spec.scheduling ?? {},
    podAnnotations: spec.podAnnotations ?? {},
    podLabels: spec.podLabels ?? {},
    shutdownTimeoutSeconds: spec.shutdownTimeoutSeconds ?? 20,
    extraEnv: (spec.extraEnv ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })),
    ...(spec.tracing && { tracing: resolveTracing(spec.tracing) }),
  };
}

function resolveTracing(t: TracingSpec): NonNullable<ResolvedSpec['tracing']> {
  return {
    endpoint: t.endpoint,
    protocol: t.protocol ?? TRACING_DEFAULTS.protocol,
    samplingRatio: t.samplingRatio ?? TRACING_DEFAULTS.samplingRatio,
    ...(t.headersSecret && {
      headersSecret: { name: t.headersSecret.name, key: t.headersSecret.key ?? TRACING_DEFAULTS.headersKey },
    }),
    resourceAttributes: t.resourceAttributes ?? {},
  };
}

/** namespace/name, the work queue key of a cluster. */
export function keyOf(obj: { metadata?: ObjectMeta }): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
