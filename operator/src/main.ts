#!/usr/bin/env node
// kvring-operator: the entry point. Parses options, connects to the
// Kubernetes API named by --kubeconfig, $KUBECONFIG or the pod's service
// account, and runs until SIGTERM/SIGINT, on which it finishes the
// reconciles in progress, releases its Lease and exits.
import { CommanderError } from 'commander';
import { loadKubeConfig, ownNamespace } from './kube/kubeconfig.js';
import { createLogger } from './log.js';
import { Operator } from './operator.js';
import { parseHostPort, parseOptions } from './options.js';
import { readTracingConfig, TracingConfigError } from './tracing/config.js';
import { startTracing, type Tracing } from './tracing/provider.js';

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    throw err;
  }
  const log = createLogger(opts.logLevel);
  let loaded;
  try {
    loaded = loadKubeConfig(opts.kubeconfig);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start');
    process.exit(2);
  }
  // Off unless an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT).
  let tracing: Tracing | undefined;
  try {
    const tracingConfig = readTracingConfig();
    if (tracingConfig) tracing = await startTracing(tracingConfig, log);
  } catch (err) {
    if (!(err instanceof TracingConfigError)) throw err;
    log.fatal({ err: err.message, setting: err.variable }, 'cannot start: bad tracing setting');
    process.exit(2);
  }
  const operator = new Operator({
    kubeConfig: loaded.kc,
    identity: opts.identity,
    log,
    ...(opts.namespace && { namespace: opts.namespace }),
    workers: opts.workers,
    resyncMs: opts.resyncMs,
    reconciler: { clusterDomain: opts.clusterDomain, drainTimeoutMs: opts.drainTimeoutMs },
    leaderElection: {
      enabled: opts.leaderElect,
      namespace: opts.leaderElectionNamespace ?? ownNamespace(loaded.kc),
      name: opts.leaderElectionId,
      leaseDurationMs: opts.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
    },
    http: parseHostPort(opts.metricsBindAddress),
  });
  log.info({ kubeconfig: loaded.source }, 'using Kubernetes configuration');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    operator
      .stop()
      // Spans of the last reconciles are exported before exit.
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: String(err) }, 'unclean shutdown');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => {
    // A bug, not an API hiccup (those are retried where they happen):
    // crash so the pod restarts clean; the Lease hands over to a standby.
    log.fatal({ err: String(err) }, 'unhandled promise rejection');
    process.exit(1);
  });
  await operator.start();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
