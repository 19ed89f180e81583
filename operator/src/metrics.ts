// The operator's Prometheus metrics (kvring_operator_*), in one registry.
// Names are a contract with the alert rules and dashboards in manifests/.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueObserver } from './queue/work-queue.js';

export type ReconcileResult = 'success' | 'requeue' | 'retry' | 'conflict' | 'error';

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly reconciles = new Counter({
    name: 'kvring_operator_reconcile_total',
    help: 'Reconciles by result: success, requeue (scheduled again), retry (a problem reported in the status, backing off), conflict (stale object), error (unexpected failure).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'kvring_operator_reconcile_errors_total',
    help: 'Reconciles that failed, by reason (the API status reason, or the problem reported in the status).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'kvring_operator_reconcile_duration_seconds',
    help: 'Time one reconcile of a KVCluster takes.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'kvring_operator_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'kvring_operator_workqueue_adds_total',
    help: 'Keys added to the work queue (merged duplicates not counted).',
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: 'kvring_operator_workqueue_retries_total',
    help: 'Keys re-queued with backoff after a failure.',
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'kvring_operator_workqueue_queue_duration_seconds',
    help: 'Time a key waits in the work queue before a worker takes it.',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers: [this.registry],
  });
  readonly clusterDesired = new Gauge({
    name: 'kvring_operator_cluster_replicas_desired',
    help: 'spec.replicas of each KVCluster.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly clusterReady = new Gauge({
    name: 'kvring_operator_cluster_replicas_ready',
    help: 'Ready node pods of each KVCluster.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly clusterCondition = new Gauge({
    name: 'kvring_operator_cluster_condition',
    help: 'Status of each condition of each KVCluster: 1 for the current status (True, False or Unknown), 0 for the others.',
    labelNames: ['namespace', 'name', 'condition', 'status'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'kvring_operator_watch_restarts_total',
    help: 'Restarts of a list/watch by resource and reason: closed (normal), idle (went quiet), gone (relist), error.',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });
  readonly drains = new Counter({
    name: 'kvring_operator_drains_total',
    help: 'Drains of leaving nodes by result: succeeded, failed, skipped (the pod was not running).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'kvring_operator_leader',
    help: '1 while this operator process holds the leader lease and reconciles.',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'kvring_operator_' });
  }

  queueObserver(): QueueObserver {
    return {
      depth: (n) => this.queueDepth.set(n),
      added: () => this.queueAdds.inc(),
      retried: () => this.queueRetries.inc(),
      queueLatency: (s) => this.queueLatency.observe(s),
    };
  }

  setCluster(
    namespace: string,
    name: string,
    desired: number,
    ready: number,
    conditions: readonly { type: string; status: string }[],
  ): void {
    this.clusterDesired.set({ namespace, name }, desired);
    this.clusterReady.set({ namespace, name }, ready);
    for (const c of conditions)
      for (const status of ['True', 'False', 'Unknown'])
        this.clusterCondition.set(
          { namespace, name, condition: c.type, status },
          c.status === status ? 1 : 0,
        );
  }

  /** Drops the series of a deleted cluster. */
  forgetCluster(namespace: string, name: string): void {
    this.clusterDesired.remove({ namespace, name });
    this.clusterReady.remove({ namespace, name });
    this.clusterCondition.remove({ namespace, name });
  }
}
