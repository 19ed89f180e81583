// The node's configuration: non-secret settings in a ConfigMap (envFrom),
// secrets as secretKeyRef environment variables, except the TLS files and
// the client tokens: those are mounted files the node reloads, so that
// rotating them restarts no pod. Variable names are the
// node's (node/src/config/settings.ts).
import type { V1ConfigMap, V1EnvVar } from '@kubernetes/client-node';
import type { KVCluster, ResolvedSpec } from '../api/types.js';
import type { BuildContext } from './context.js';
import { PORTS, commonLabels, namesOf, ownerReference, peerServiceFqdn } from './names.js';
import { tracingEnv } from './tracing.js';

export const TLS_MOUNT = '/etc/kvring/tls';
/** The client tokens' Secret key, mounted as a file (the node reloads it: a rotation restarts no pod). */
export const AUTH_MOUNT = '/etc/kvring/auth';
export const AUTH_TOKENS_FILE = 'tokens';

/** KVRING_* settings that come from the spec (the ConfigMap's data). */
export function nodeSettings(
  cluster: KVCluster,
  spec: ResolvedSpec,
  ctx: BuildContext,
): Record<string, string> {
  const n = namesOf(cluster.metadata.name);
  const s: Record<string, string> = {
    KVRING_HOST: '0.0.0.0',
    KVRING_CLIENT_PORT: String(PORTS.client),
    KVRING_PEER_PORT: String(PORTS.peer),
    KVRING_HTTP_PORT: String(PORTS.http),
    KVRING_DISCOVERY_SERVICE: peerServiceFqdn(cluster, ctx.clusterDomain),
    KVRING_DISCOVERY_PORT_NAME: 'peer',
    KVRING_DISCOVERY_POD_PREFIX: n.statefulSet,
    KVRING_REPLICATION_FACTOR: String(spec.replicationFactor),
    KVRING_READ_QUORUM: String(spec.readQuorum),
    KVRING_WRITE_QUORUM: String(spec.writeQuorum),
    KVRING_MAX_MEMORY: spec.cache.maxMemory,
    KVRING_DEFAULT_TTL: spec.cache.defaultTTL,
    KVRING_POSTGRES_TABLE: spec.postgres.table,
    KVRING_SHUTDOWN_TIMEOUT: `${spec.shutdownTimeoutSeconds}s`,
  };
  if (!spec.postgres.urlSecret) {
    s.KVRING_POSTGRES_HOST = spec.postgres.host;
    s.KVRING_POSTGRES_PORT = String(spec.postgres.port);
    s.KVRING_POSTGRES_DATABASE = spec.postgres.database;
  }
  if (spec.legacyApi) {
    s.KVRING_LEGACY_URL = spec.legacyApi.url;
    s.KVRING_LEGACY_PATH_TEMPLATE = spec.legacyApi.pathTemplate;
    s.KVRING_LEGACY_TIMEOUT = spec.legacyApi.timeout;
  }
  if (spec.tls) {
    s.KVRING_TLS_CERT_FILE = `${TLS_MOUNT}/tls.crt`;
    s.KVRING_TLS_KEY_FILE = `${TLS_MOUNT}/tls.key`;
    if (ctx.tlsHasCa) s.KVRING_TLS_CA_FILE = `${TLS_MOUNT}/ca.crt`;
  }
  if (spec.auth) s.KVRING_AUTH_TOKEN_FILE = `${AUTH_MOUNT}/${AUTH_TOKENS_FILE}`;
  return s;
}

export function buildConfigMap(cluster: KVCluster, spec: ResolvedSpec, ctx: BuildContext): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: namesOf(cluster.metadata.name).configMap,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, spec.image),
      ownerReferences: [ownerReference(cluster)],
    },
    data: nodeSettings(cluster, spec, ctx),
  };
}

function secretEnv(name: string, secret: string, key: string): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/**
 * The container's env: identity from the downward API, secrets by
 * reference, tracing (spec.tracing), then the user's extra variables (minus any the operator sets,
 * which win).
 */
export function nodeEnv(cluster: KVCluster, spec: ResolvedSpec, ctx: BuildContext): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'KVRING_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    // Peers reach a member by its stable DNS name (it survives a new pod IP).
    {
      name: 'KVRING_ADVERTISE_HOST',
      value: `$(KVRING_NODE_NAME).${peerServiceFqdn(cluster, ctx.clusterDomain)}`,
    },
    // ...and a restarted pod tells its peers its new IP when it dials them,
    // before CoreDNS's cache has it (Hello.address).
    { name: 'KVRING_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  ];
  const pg = spec.postgres;
  if (pg.urlSecret) env.push(secretEnv('KVRING_POSTGRES_URL', pg.urlSecret.name, pg.urlSecret.key));
  else if (pg.credentialsSecret) {
    env.push(secretEnv('KVRING_POSTGRES_USER', pg.credentialsSecret.name, pg.credentialsSecret.usernameKey));
    env.push(
      secretEnv('KVRING_POSTGRES_PASSWORD', pg.credentialsSecret.name, pg.credentialsSecret.passwordKey),
    );
  }
  const token = spec.legacyApi?.tokenSecret;
  if (token) env.push(secretEnv('KVRING_LEGACY_TOKEN', token.name, token.key));
  env.push(...tracingEnv(cluster, spec));
  const taken = new Set([...env.map((e) => e.name), ...Object.keys(nodeSettings(cluster, spec, ctx))]);
  for (const e of spec.extraEnv) if (!taken.has(e.name)) env.push({ name: e.name, value: e.value });
  return env;
}
