// Command-line options of `kvring-operator` (each with an environment
// variable for container use).
import { Command, InvalidArgumentError } from 'commander';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

export interface CliOptions {
  kubeconfig?: string;
  namespace?: string;
  metricsBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  workers: number;
  resyncMs: number;
  clusterDomain: string;
  drainTimeoutMs: number;
  logLevel: string;
  identity: string;
}

/** "500ms", "15s", "10m", "1h"; a bare number is seconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`expected a duration such as 500ms, 15s, 10m or 1h, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${text}"`);
  return n;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  const program = new Command('kvring-operator')
    .description(
      'Reconciles KVCluster resources (kvring.dev/v1alpha1) into StatefulSets of kvring cache nodes.\n' +
        'Installs nothing: apply crds/ and the RBAC (Helm chart or manifests/) first.',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
    .option(
      '--namespace <ns>',
      'watch only this namespace (default: all; env WATCH_NAMESPACE)',
      env.WATCH_NAMESPACE,
    )
    .option(
      '--metrics-bind-address <host:port>',
      'where /metrics, /healthz and /readyz listen',
      env.KVRING_OPERATOR_METRICS_ADDRESS ?? '0.0.0.0:8080',
    )
    .option('--no-leader-elect', 'run without leader election (only ever one replica!)')
    .option('--leader-election-namespace <ns>', 'namespace of the Lease (default: the pod namespace)')
    .option('--leader-election-id <name>', 'name of the Lease', 'kvring-operator')
    .option('--lease-duration <duration>', 'how long a Lease lasts without renewal', parseDuration, 15_000)
    .option(
      '--renew-deadline <duration>',
      'the leader steps down if it cannot renew for this long',
      parseDuration,
      10_000,
    )
    .option('--retry-period <duration>', 'interval of lease attempts and renewals', parseDuration, 2_000)
    .option('--workers <n>', 'clusters reconciled in parallel', parsePositiveInt, 2)
    .option(
      '--resync-period <duration>',
      'every cluster is reconciled at least this often',
      parseDuration,
      600_000,
    )
    .option(
      '--cluster-domain <domain>',
      'the DNS domain of the cluster',
      env.KVRING_CLUSTER_DOMAIN ?? 'cluster.local',
    )
    .option(
      '--drain-timeout <duration>',
      'longest wait for leaving nodes to drain on scale-down',
      parseDuration,
      600_000,
    )
    .option('--log-level <level>', 'trace, debug, info, warn or error', env.KVRING_LOG_LEVEL ?? 'info')
    .option('--identity <id>', 'this process in the Lease (default: hostname_random)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{
    kubeconfig?: string;
    namespace?: string;
    metricsBindAddress: string;
    leaderElect: boolean;
    leaderElectionNamespace?: string;
    leaderElectionId: string;
    leaseDuration: number;
    renewDeadline: number;
    retryPeriod: number;
    workers: number;
    resyncPeriod: number;
    clusterDomain: string;
    drainTimeout: number;
    logLevel: string;
    identity?: string;
  }>();
  return {
    ...(o.kubeconfig && { kubeconfig: o.kubeconfig }),
    ...(o.namespace && { namespace: o.namespace }),
    metricsBindAddress: o.metricsBindAddress,
    leaderElect: o.leaderElect,
    ...(o.leaderElectionNamespace && { leaderElectionNamespace: o.leaderElectionNamespace }),
    leaderElectionId: o.leaderElectionId,
    leaseDurationMs: o.leaseDuration,
    renewDeadlineMs: o.renewDeadline,
    retryPeriodMs: o.retryPeriod,
    workers: o.workers,
    resyncMs: o.resyncPeriod,
    clusterDomain: o.clusterDomain,
    drainTimeoutMs: o.drainTimeout,
    logLevel: o.logLevel,
    identity: o.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`,
  };
}

/** "0.0.0.0:8080" -> host and port; "[::]:8080" works too. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`expected host:port, got "${text}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}
