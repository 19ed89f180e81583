// Every setting of a node: its KVRING_* environment variable, the matching
// --flag, its default and how it is parsed. One table, so that the error for
// a bad value always names the setting, and the README's table has one
// source.
import { parseBytes, parseDurationMs } from '@kvring/format/units';

export type Kind = 'string' | 'int' | 'bytes' | 'duration' | 'bool';

export interface SettingSpec {
  /** Property name in NodeConfig. */
  readonly key: string;
  readonly env: string;
  readonly kind: Kind;
  readonly default: string;
  readonly help: string;
  /** Inclusive lower bound for numeric kinds. */
  readonly min?: number;
  readonly max?: number;
}

export const SETTINGS = [
  {
    key: 'nodeName',
    env: 'KVRING_NODE_NAME',
    kind: 'string',
    default: '',
    help: 'stable member name (default: the hostname, i.e. the pod name)',
  },
  {
    key: 'host',
    env: 'KVRING_HOST',
    kind: 'string',
    default: '0.0.0.0',
    help: 'address every port binds to',
  },
  {
    key: 'advertiseHost',
    env: 'KVRING_ADVERTISE_HOST',
    kind: 'string',
    default: '',
    help: 'address other members and clients use to reach this node (default: KVRING_HOST, or the hostname when that is 0.0.0.0)',
  },
  {
    key: 'podIp',
    env: 'KVRING_POD_IP',
    kind: 'string',
    default: '',
    help: "this pod's IP (the downward API's status.podIP): announced to peers when this node dials them, so a restarted pod is reached at its new IP at once, whatever DNS caches say (default: the advertise host when it is an IP address, else nothing is announced)",
  },
  {
    key: 'clientPort',
    env: 'KVRING_CLIENT_PORT',
    kind: 'int',
    default: '50051',
    min: 1,
    max: 65535,
    help: 'client gRPC port (kvring.v1 and the prototype cache.CacheService)',
  },
  {
    key: 'peerPort',
    env: 'KVRING_PEER_PORT',
    kind: 'int',
    default: '50052',
    min: 1,
    max: 65535,
    help: 'peer gRPC port (replication between members only)',
  },
  {
    key: 'httpPort',
    env: 'KVRING_HTTP_PORT',
    kind: 'int',
    default: '8080',
    min: 1,
    max: 65535,
    help: 'HTTP port: /metrics, /healthz, /readyz',
  },
  {
    key: 'peers',
    env: 'KVRING_PEERS',
    kind: 'string',
    default: '',
    help: 'static membership outside Kubernetes: name=host:peerPort,...',
  },
  {
    key: 'discoveryService',
    env: 'KVRING_DISCOVERY_SERVICE',
    kind: 'string',
    default: '',
    help: 'headless Service FQDN whose DNS lists the members (e.g. demo-peers.default.svc.cluster.local)',
  },
  {
    key: 'discoveryPortName',
    env: 'KVRING_DISCOVERY_PORT_NAME',
    kind: 'string',
    default: 'peer',
    help: 'port name of the SRV records (_NAME._tcp.SERVICE)',
  },
  {
    key: 'discoveryPodPrefix',
    env: 'KVRING_DISCOVERY_POD_PREFIX',
    kind: 'string',
    default: '',
    help: 'StatefulSet name: the A-record fallback resolves PREFIX-0.SERVICE, PREFIX-1.SERVICE, ...',
  },
  {
    key: 'dnsServer',
    env: 'KVRING_DNS_SERVER',
    kind: 'string',
    default: '',
    help: 'DNS server (host:port) for discovery; default: the system resolver',
  },
  {
    key: 'discoveryIntervalMs',
    env: 'KVRING_DISCOVERY_INTERVAL',
    kind: 'duration',
    default: '5s',
    min: 100,
    help: 'how often membership is refreshed from DNS',
  },
  {
    key: 'memberHoldDownMs',
    env: 'KVRING_MEMBER_HOLDDOWN',
    kind: 'duration',
    default: '30s',
    min: 0,
    help: 'how long a member missing from DNS stays a member (a deleted pod has no record until its replacement has an IP); a drained member leaves at once',
  },
  {
    key: 'replicationFactor',
    env: 'KVRING_REPLICATION_FACTOR',
    kind: 'int',
    default: '3',
    min: 1,
    max: 7,
    help: 'N: replicas of each key',
  },
  {
    key: 'readQuorum',
    env: 'KVRING_READ_QUORUM',
    kind: 'int',
    default: '2',
    min: 1,
    max: 7,
    help: 'R: replicas a read consults (R + W > N)',
  },
  {
    key: 'writeQuorum',
    env: 'KVRING_WRITE_QUORUM',
    kind: 'int',
    default: '2',
    min: 1,
    max: 7,
    help: 'W: replicas that must apply a write before it is acknowledged',
  },
  {
    key: 'vnodes',
    env: 'KVRING_VNODES',
    kind: 'int',
    default: '512',
    min: 128,
    max: 4096,
    help: 'virtual nodes (tokens) per member (512 keeps every share within 15% of fair for 3-10 members)',
  },
  {
    key: 'maxMemory',
    env: 'KVRING_MAX_MEMORY',
    kind: 'bytes',
    default: '256Mi',
    min: 1024 * 1024,
    help: 'byte budget of the in-memory store (LRU eviction past it)',
  },
  {
    key: 'defaultTtlMs',
    env: 'KVRING_DEFAULT_TTL',
    kind: 'duration',
    default: '0',
    help: 'TTL of a write that gives none; 0 means no expiry',
  },
  {
    key: 'maxKeyBytes',
    env: 'KVRING_MAX_KEY_BYTES',
    kind: 'int',
    default: '1024',
    min: 1,
    // PostgreSQL's B-tree index refuses longer keys.
    max: 2048,
    help: 'largest key, in UTF-8 bytes',
  },
  {
    key: 'maxValueBytes',
    env: 'KVRING_MAX_VALUE_BYTES',
    kind: 'bytes',
    default: '1Mi',
    min: 1,
    help: 'largest value',
  },
  {
    key: 'maxBatch',
    env: 'KVRING_MAX_BATCH',
    kind: 'int',
    default: '1000',
    min: 1,
    help: 'most keys in one MGet/MSet, and most operations in one Pipeline frame',
  },
  {
    key: 'maxFrameBytes',
    env: 'KVRING_MAX_FRAME_BYTES',
    kind: 'bytes',
    default: '4Mi',
    min: 1024,
    help: 'largest Pipeline request frame (encoded); a frame must fit at least one operation, so keep it above KVRING_MAX_VALUE_BYTES',
  },
  {
    key: 'postgresUrl',
    env: 'KVRING_POSTGRES_URL',
    kind: 'string',
    default: '',
    help: 'PostgreSQL connection URL (or the KVRING_POSTGRES_HOST/... parts below)',
  },
  {
    key: 'postgresHost',
    env: 'KVRING_POSTGRES_HOST',
    kind: 'string',
    default: '127.0.0.1',
    help: 'PostgreSQL host',
  },
  {
    key: 'postgresPort',
    env: 'KVRING_POSTGRES_PORT',
    kind: 'int',
    default: '5432',
    min: 1,
    max: 65535,
    help: 'PostgreSQL port',
  },
  {
    key: 'postgresDatabase',
    env: 'KVRING_POSTGRES_DATABASE',
    kind: 'string',
    default: 'kvring',
    help: 'PostgreSQL database',
  },
  {
    key: 'postgresUser',
    env: 'KVRING_POSTGRES_USER',
    kind: 'string',
    default: 'kvring',
    help: 'PostgreSQL user',
  },
  {
    key: 'postgresPassword',
    env: 'KVRING_POSTGRES_PASSWORD',
    kind: 'string',
    default: '',
    help: 'PostgreSQL password',
  },
  {
    key: 'postgresTable',
    env: 'KVRING_POSTGRES_TABLE',
    kind: 'string',
    default: 'kv_store',
    help: 'table holding the data (created at start if absent)',
  },
  {
    key: 'postgresPoolSize',
    env: 'KVRING_POSTGRES_POOL_SIZE',
    kind: 'int',
    default: '8',
    min: 2,
    max: 200,
    help: 'PostgreSQL connections per node',
  },
  {
    key: 'postgresBatchMax',
    env: 'KVRING_POSTGRES_BATCH_MAX',
    kind: 'int',
    default: '512',
    min: 1,
    max: 10000,
    help: 'most writes one group commit carries',
  },
  {
    key: 'postgresTimeoutMs',
    env: 'KVRING_POSTGRES_TIMEOUT',
    kind: 'duration',
    default: '5s',
    min: 100,
    help: 'connect and statement timeout towards PostgreSQL',
  },
  {
    key: 'legacyUrl',
    env: 'KVRING_LEGACY_URL',
    kind: 'string',
    default: '',
    help: 'base URL of the legacy REST API; empty disables read-through',
  },
  {
    key: 'legacyPathTemplate',
    env: 'KVRING_LEGACY_PATH_TEMPLATE',
    kind: 'string',
    default: '/legacy/data/{key}',
    help: 'path of one key; {key} is replaced by the URL-encoded key',
  },
  {
    key: 'legacyTimeoutMs',
    env: 'KVRING_LEGACY_TIMEOUT',
    kind: 'duration',
    default: '2s',
    min: 1,
    help: 'timeout of one legacy request',
  },
  {
    key: 'legacyToken',
    env: 'KVRING_LEGACY_TOKEN',
    kind: 'string',
    default: '',
    help: 'bearer token sent to the legacy API',
  },
  {
    key: 'legacyNegativeTtlMs',
    env: 'KVRING_LEGACY_NEGATIVE_TTL',
    kind: 'duration',
    default: '5s',
    help: 'how long a legacy "not found" is remembered',
  },
  {
    key: 'requestTimeoutMs',
    env: 'KVRING_REQUEST_TIMEOUT',
    kind: 'duration',
    default: '5s',
    min: 10,
    help: 'deadline of one client request inside the node',
  },
  {
    key: 'peerTimeoutMs',
    env: 'KVRING_PEER_TIMEOUT',
    kind: 'duration',
    default: '1s',
    min: 10,
    help: 'deadline of one replica operation',
  },
  {
    key: 'failureTimeoutMs',
    env: 'KVRING_FAILURE_TIMEOUT',
    kind: 'duration',
    default: '2s',
    min: 50,
    help: 'a member silent this long is marked down',
  },
  {
    key: 'hintsMaxBytes',
    env: 'KVRING_HINTS_MAX_BYTES',
    kind: 'bytes',
    default: '64Mi',
    help: 'hints kept per peer, in bytes',
  },
  {
    key: 'hintsMaxAgeMs',
    env: 'KVRING_HINTS_MAX_AGE',
    kind: 'duration',
    default: '1h',
    help: 'oldest hint kept (older ones are dropped: anti-entropy covers them)',
  },
  {
    key: 'antiEntropyIntervalMs',
    env: 'KVRING_ANTI_ENTROPY_INTERVAL',
    kind: 'duration',
    default: '30s',
    min: 100,
    help: 'how often held keys are compared with PostgreSQL',
  },
  {
    key: 'warmupMaxBytes',
    env: 'KVRING_WARMUP_MAX_BYTES',
    kind: 'bytes',
    default: '64Mi',
    min: 0,
    max: 64 * 1024 ** 3,
    help: 'warm restarts: bytes of hot keys a starting node loads from PostgreSQL before it reports ready (0: no warm-up; at most half of KVRING_MAX_MEMORY is used)',
  },
  {
    key: 'warmupTimeoutMs',
    env: 'KVRING_WARMUP_TIMEOUT',
    kind: 'duration',
    default: '10s',
    min: 100,
    max: 600_000,
    help: 'warm restarts: longest a starting node waits for its warm-up before it reports ready anyway',
  },
  {
    key: 'purgeAfterMs',
    env: 'KVRING_PURGE_AFTER',
    kind: 'duration',
    default: '24h',
    min: 1,
    help: 'tombstones and expired rows older than this are deleted from PostgreSQL; must exceed KVRING_HINTS_MAX_AGE + KVRING_SHUTDOWN_TIMEOUT + 2 × KVRING_ANTI_ENTROPY_INTERVAL + KVRING_REQUEST_TIMEOUT (checked at start)',
  },
  {
    key: 'purgeIntervalMs',
    env: 'KVRING_PURGE_INTERVAL',
    kind: 'duration',
    default: '1m',
    min: 100,
    help: 'how often a node tries to purge (one node of the cluster at a time)',
  },
  {
    key: 'purgeBatch',
    env: 'KVRING_PURGE_BATCH',
    kind: 'int',
    default: '1000',
    min: 1,
    max: 100000,
    help: 'rows one purge statement deletes at most (a run stops after 20 such statements per kind)',
  },
  {
    key: 'idempotencyTtlMs',
    env: 'KVRING_IDEMPOTENCY_TTL',
    kind: 'duration',
    default: '24h',
    min: 1000,
    help: 'how long idempotency records are kept: a retry with the same idempotency key after this writes again',
  },
  {
    key: 'shutdownTimeoutMs',
    env: 'KVRING_SHUTDOWN_TIMEOUT',
    kind: 'duration',
    default: '20s',
    help: 'SIGTERM: longest wait for in-flight work, hints and the PostgreSQL batch',
  },
  {
    key: 'logLevel',
    env: 'KVRING_LOG_LEVEL',
    kind: 'string',
    default: 'info',
    help: 'trace, debug, info, warn, error',
  },
  {
    key: 'tlsCertFile',
    env: 'KVRING_TLS_CERT_FILE',
    kind: 'string',
    default: '',
    help: 'PEM certificate for both gRPC ports (empty: plaintext); reloaded when the file changes',
  },
  {
    key: 'tlsKeyFile',
    env: 'KVRING_TLS_KEY_FILE',
    kind: 'string',
    default: '',
    help: 'PEM private key of that certificate',
  },
  {
    key: 'tlsCaFile',
    env: 'KVRING_TLS_CA_FILE',
    kind: 'string',
    default: '',
    help: 'PEM CA bundle (may hold the old and the new CA during a rotation): peers must present a certificate one of them signed (mutual TLS on the peer port)',
  },
  {
    key: 'authToken',
    env: 'KVRING_AUTH_TOKEN',
    kind: 'string',
    default: '',
    help: 'bearer token clients must send on the client port (empty: no authentication)',
  },
  {
    key: 'authTokenFile',
    env: 'KVRING_AUTH_TOKEN_FILE',
    kind: 'string',
    default: '',
    help: 'file of accepted client tokens, one per line (with KVRING_AUTH_TOKEN, both are accepted); reloaded when it changes',
  },
  {
    key: 'fileRecheckIntervalMs',
    env: 'KVRING_FILE_RECHECK_INTERVAL',
    kind: 'duration',
    default: '1m',
    min: 1000,
    help: 'the TLS and token files are reloaded when they change (inotify) and rechecked this often in any case',
  },
] as const satisfies readonly SettingSpec[];

/** `KVRING_MAX_MEMORY` -> `--max-memory`. */
export function flagName(env: string): string {
  return (
    '--' +
    env
      .replace(/^KVRING_/, '')
      .toLowerCase()
      .replace(/_/g, '-')
  );
}

export function parseValue(spec: SettingSpec, raw: string): string | number | boolean {
  const fail = (what: string): never => {
    throw new ConfigError(`${spec.env} (${flagName(spec.env)}): ${what}, got ${JSON.stringify(raw)}`);
  };
  let n: number | undefined;
  switch (spec.kind) {
    case 'string':
      return raw;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off|)$/i.test(raw)) return false;
      return fail('expected true or false');
    case 'int':
      n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : undefined;
      if (n === undefined) fail('expected an integer');
      break;
    case 'bytes':
      n = parseBytes(raw);
      if (n === undefined) fail('expected a size such as 1048576, 512Ki, 256Mi or 1Gi');
      break;
    case 'duration':
      n = parseDurationMs(raw);
      if (n === undefined) fail('expected a duration such as 500ms, 30s, 5m or 1h');
      break;
  }
  if (spec.min !== undefined && n! < spec.min) fail(`must be at least ${spec.min}`);
  if (spec.max !== undefined && n! > spec.max) fail(`must be at most ${spec.max}`);
  return n!;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
