// Every metric a node exports, in one registry. Names follow Prometheus
// conventions (base units, _total for counters) and are a contract: the
// alert rules and the Grafana dashboard in manifests/monitoring use them.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type RegistryContentType,
} from 'prom-client';
import { tracingOn } from './tracing/tracer.js';

export class NodeMetrics {
  /**
   * With tracing on (started before the node is built), the OpenMetrics
   * format, the one that carries exemplars: request latencies then point at
   * a sampled trace. Off, the Prometheus text format, exactly as before.
   */
  readonly exemplars = tracingOn();
  readonly registry: Registry<RegistryContentType> = registryOf(this.exemplars);

  readonly requests = new Counter({
    name: 'kvring_requests_total',
    help: 'Client requests by method and gRPC status code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'kvring_request_duration_seconds',
    help: 'Client request latency by method.',
    labelNames: ['method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
    enableExemplars: this.exemplars,
  });
  readonly hits = new Counter({
    name: 'kvring_reads_total',
    help: 'Reads by where the answer came from: memory, postgres, legacy, or miss (not found anywhere).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly memoryReads = new Counter({
    name: 'kvring_memory_reads_total',
    help:
      'Replica reads this node answered, by result: hit (from its memory) or miss (not held, or a copy it may ' +
      'not serve yet); the memory hit ratio is hit / (hit + miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly warmupKeys = new Gauge({
    name: 'kvring_warmup_keys',
    help: 'Keys the warm-up at start installed before the node reported ready, by where the values came from.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly warmupBytes = new Gauge({
    name: 'kvring_warmup_bytes',
    help: 'Bytes (as the memory store accounts them) the warm-up at start installed, by source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly warmupDuration = new Gauge({
    name: 'kvring_warmup_duration_seconds',
    help: 'How long the warm-up at start took (readiness waited for it).',
    registers: [this.registry],
  });
  readonly warmupStopped = new Gauge({
    name: 'kvring_warmup_stopped',
    help: 'Why the warm-up at start ended (1 for the reason): done, bytes, time, disabled or failed.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'kvring_reloads_total',
    help:
      'Files reloaded while running, by what (tls, tokens) and result: applied, or rejected ' +
      '(unreadable or invalid: the node kept what it had).',
    labelNames: ['what', 'result'] as const,
    registers: [this.registry],
  });
  readonly tlsNotAfter = new Gauge({
    name: 'kvring_tls_certificate_not_after_seconds',
    help: 'Expiry (Unix time) of the certificate the node presents now.',
    registers: [this.registry],
  });
  readonly cacheEntries = new Gauge({
    name: 'kvring_cache_entries',
    help: 'Entries (values and tombstones) held in memory.',
    registers: [this.registry],
  });
  readonly cacheBytes = new Gauge({
    name: 'kvring_cache_bytes',
    help: 'Bytes accounted to the in-memory store (keys, values and per-entry overhead).',
    registers: [this.registry],
  });
  readonly cacheMaxBytes = new Gauge({
    name: 'kvring_cache_max_bytes',
    help: 'The in-memory store budget (KVRING_MAX_MEMORY).',
    registers: [this.registry],
  });
  readonly evictions = new Counter({
    name: 'kvring_evictions_total',
    help: 'Entries evicted to stay within the memory budget.',
    registers: [this.registry],
  });
  readonly expirations = new Counter({
    name: 'kvring_expirations_total',
    help: 'Entries dropped because their TTL passed.',
    registers: [this.registry],
  });
  readonly versionRegressions = new Counter({
    name: 'kvring_version_regressions_total',
    help:
      'Writes refused because PostgreSQL gave a version not above one already committed (it lost commits), ' +
      'by detector: node (this node saw a higher version) or replica (a replica holds a higher one).',
    labelNames: ['detector'] as const,
    registers: [this.registry],
  });
  readonly versionHighWater = new Gauge({
    name: 'kvring_version_high_water',
    help: 'Highest version PostgreSQL returned to this node (recovery from a version regression: README).',
    registers: [this.registry],
  });
  readonly pgBatchSize = new Histogram({
    name: 'kvring_postgres_batch_size',
    help: 'Writes carried by one group commit.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly pgDuration = new Histogram({
    name: 'kvring_postgres_query_duration_seconds',
    help: 'PostgreSQL round trips by operation.',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly pgErrors = new Counter({
    name: 'kvring_postgres_errors_total',
    help: 'Failed PostgreSQL operations by operation.',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly pgUp = new Gauge({
    name: 'kvring_postgres_up',
    help: '1 when the last PostgreSQL operation succeeded.',
    registers: [this.registry],
  });
  readonly legacyRequests = new Counter({
    name: 'kvring_legacy_requests_total',
    help: 'Requests to the legacy API by result: found, not_found, error, timeout, rejected (breaker open).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly legacyDuration = new Histogram({
    name: 'kvring_legacy_request_duration_seconds',
    help: 'Legacy API request latency.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly legacyBreakerState = new Gauge({
    name: 'kvring_legacy_breaker_state',
    help: 'Legacy API circuit breaker: 0 closed, 1 half-open, 2 open.',
    registers: [this.registry],
  });
  readonly hintsPending = new Gauge({
    name: 'kvring_hints_pending',
    help: 'Hints kept for members that missed writes, by member.',
    labelNames: ['member'] as const,
    registers: [this.registry],
  });
  readonly hintsPendingBytes = new Gauge({
    name: 'kvring_hints_pending_bytes',
    help: 'Bytes of hints kept, by member.',
    labelNames: ['member'] as const,
    registers: [this.registry],
  });
  readonly hints = new Counter({
    name: 'kvring_hints_total',
    help: 'Hints by outcome: stored, replayed, dropped (bound, age or a restarted replica).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly readRepairs = new Counter({
    name: 'kvring_read_repairs_total',
    help: 'Values written back to stale replicas by reads, by mode (blocking, background).',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly antiEntropyRepairs = new Counter({
    name: 'kvring_anti_entropy_repairs_total',
    help: 'Entries this node refreshed from PostgreSQL during anti-entropy.',
    registers: [this.registry],
  });
  readonly members = new Gauge({
    name: 'kvring_members',
    help: 'Ring members by state as this node sees them (up, down).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly memberUp = new Gauge({
    name: 'kvring_member_up',
    help: '1 when this node sees the member as up.',
    labelNames: ['member'] as const,
    registers: [this.registry],
  });
  readonly peerProtocolVersion = new Gauge({
    name: 'kvring_peer_protocol_version',
    help: 'The peer protocol version each member told in its Hello (0: a release from before versions were told); mixed during a rolling upgrade.',
    labelNames: ['member'] as const,
    registers: [this.registry],
  });
  readonly peerOps = new Counter({
    name: 'kvring_peer_operations_total',
    help: 'Replica operations sent to peers by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly peerFrameOps = new Histogram({
    name: 'kvring_peer_frame_operations',
    help: 'Operations carried by one replication stream frame.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly viewResends = new Counter({
    name: 'kvring_view_resends_total',
    help: 'Writes re-sent to the preference list of a refreshed ring view after a replica refused them as not its owner.',
    registers: [this.registry],
  });

  readonly ringChanges = new Counter({
    name: 'kvring_ring_changes_total',
    help: 'Membership changes applied to the ring.',
    registers: [this.registry],
  });
  readonly keysStreamed = new Counter({
    name: 'kvring_keys_streamed_total',
    help: 'Keys handed to new owners on a ring change or drain.',
    registers: [this.registry],
  });
  readonly purgedRows = new Counter({
    name: 'kvring_purged_rows_total',
    help:
      'Rows the background purge deleted from PostgreSQL, by kind: tombstone, expired, idempotency ' +
      '(records of idempotent writes), and legacy_kept (tombstones kept for good: the legacy API has the key).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly purgeRuns = new Counter({
    name: 'kvring_purge_runs_total',
    help: 'Purge attempts by outcome: ran, locked (another node was purging), failed.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly purgeLastDuration = new Gauge({
    name: 'kvring_purge_last_duration_seconds',
    help: 'Duration of the last purge run this node made.',
    registers: [this.registry],
  });

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'kvring_' });
    // prom-client's active handle/request/resource totals are gauges named
    // *_total, which Prometheus reserves for counters (promtool rejects them);
    // the per-type gauges without the suffix carry the same numbers.
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
      this.registry.removeSingleMetric(`kvring_nodejs_${name}`);
  }
}

function registryOf(openMetrics: boolean): Registry<RegistryContentType> {
  const r = new Registry<RegistryContentType>();
  if (openMetrics) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return r;
}
