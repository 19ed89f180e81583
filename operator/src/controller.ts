// The control loop of the leader: informers feed keys into the work queue,
// workers reconcile them. Events on owned objects map to their KVCluster
// through the controller owner reference (or, for pods, the instance
// label); a Secret event queues the clusters that refer to it. Every
// cluster is also queued again every resync period, with jitter.
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import {
  FIELD_MANAGER,
  KIND,
  keyOf,
  splitKey,
  withDefaults,
  type KubeObject,
  type KVCluster,
} from './api/types.js';
import { selectorLabels } from './builders/names.js';
import type { Clock, TimerHandle } from './clock.js';
import { EventRecorder } from './events.js';
import type { KubeClient } from './kube/client.js';
import { ApiDiscovery } from './kube/discovery.js';
import { KubeApiError } from './kube/errors.js';
import { errorText, Informer } from './kube/informer.js';
import { RESOURCES, type ResourceType } from './kube/resources.js';
import type { Logger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import type { NodeConnector } from './node-client.js';
import { defaultControllerRateLimiter } from './queue/rate-limiter.js';
import { WorkQueue } from './queue/work-queue.js';
import { DrainTracker } from './reconcile/drains.js';
import {
  Reconciler,
  type ClusterCaches,
  type ReconcileOutcome,
  type ReconcilerOptions,
} from './reconcile/reconciler.js';
import { referencedSecretNames } from './reconcile/references.js';
import { inRootSpan } from './tracing/spans.js';

export interface ControllerOptions {
  client: KubeClient;
  clock: Clock;
  log: Logger;
  metrics: OperatorMetrics;
  nodes: NodeConnector;
  /** Identity for events (reportingInstance). */
  identity: string;
  /** Watch only this namespace (default: all). */
  namespace?: string;
  workers: number;
  resyncMs: number;
  reconciler: ReconcilerOptions;
}

const MANAGED = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

export class Controller {
  readonly queue: WorkQueue;
  private readonly clusters: Informer<KVCluster>;
  private readonly statefulSets: Informer<V1StatefulSet & KubeObject>;
  private readonly owned: Map<string, Informer<KubeObject>>;
  private readonly pods: Informer<V1Pod & KubeObject>;
  private readonly secrets: Informer<KubeObject>;
  private readonly informers: Informer<KubeObject>[];
  private readonly reconciler: Reconciler;
  private readonly events: EventRecorder;
  private workers: Promise<void>[] = [];
  private resyncTimer: TimerHandle | undefined;
  private running = false;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue(o.clock, defaultControllerRateLimiter(o.clock), o.metrics.queueObserver());
    const mk = <T extends KubeObject>(
      r: ResourceType,
      extra: { labelSelector?: string; metadataOnly?: boolean } = {},
    ) =>
      new Informer<T>(o.client, r, {
        clock: o.clock,
        ...(o.namespace && { namespace: o.namespace }),
        ...extra,
        log: (level, msg, fields) => o.log[level](fields ?? {}, msg),
        onRestart: (reason) => o.metrics.watchRestarts.inc({ resource: r.plural, reason }),
      });
    this.clusters = mk<KVCluster>(RESOURCES.kvCluster);
    this.statefulSets = mk(RESOURCES.statefulSet, { labelSelector: MANAGED });
    this.pods = mk(RESOURCES.pod, { labelSelector: MANAGED });
    this.owned = new Map<string, Informer<KubeObject>>([
      ['ConfigMap', mk(RESOURCES.configMap, { labelSelector: MANAGED })],
      ['Service', mk(RESOURCES.service, { labelSelector: MANAGED })],
      ['PodDisruptionBudget', mk(RESOURCES.podDisruptionBudget, { labelSelector: MANAGED })],
    ]);
    // Only names matter (to map a change to clusters): keep metadata, not secret data.
    this.secrets = mk(RESOURCES.secret, { metadataOnly: true });
    this.informers = [this.clusters, this.statefulSets, this.pods, ...this.owned.values(), this.secrets];

    this.clusters.on({
      onAdd: (c) => this.queue.add(keyOf(c)),
      onUpdate: (old, c) => {
        // Our own status writes come back as updates: skip them, keep spec,
        // metadata and deletion changes.
        if (
          old.metadata.generation !== c.metadata.generation ||
          old.metadata.deletionTimestamp !== c.metadata.deletionTimestamp ||
          JSON.stringify(old.metadata.labels) !== JSON.stringify(c.metadata.labels) ||
          JSON.stringify(old.metadata.annotations) !== JSON.stringify(c.metadata.annotations)
        )
          this.queue.add(keyOf(c));
      },
      onDelete: (c) => this.queue.add(keyOf(c)),
    });
    const toOwner = (obj: KubeObject): void => {
      const ref = (obj.metadata?.ownerReferences ?? []).find((r) => r.controller && r.kind === KIND);
      if (ref) this.queue.add(`${obj.metadata?.namespace}/${ref.name}`);
    };
    for (const inf of [this.statefulSets as Informer<KubeObject>, ...this.owned.values()])
      inf.on({ onAdd: toOwner, onUpdate: (_o, n) => toOwner(n), onDelete: toOwner });
    const podToCluster = (p: KubeObject): void => {
      const instance = p.metadata?.labels?.['app.kubernetes.io/instance'];
      if (instance) this.queue.add(`${p.metadata?.namespace}/${instance}`);
    };
    this.pods.on({
      onAdd: podToCluster,
      onUpdate: (old, p) => {
        // Only what the reconcile looks at: phase, IP, readiness, revision, deletion.
        if (podSummary(old) !== podSummary(p)) podToCluster(p);
      },
      onDelete: podToCluster,
    });
    const secretToClusters = (s: KubeObject): void => {
      const ns = s.metadata?.namespace ?? '';
      for (const c of this.clusters.list(ns))
        if (referencedSecretNames(withDefaults(c.spec)).has(s.metadata?.name ?? '')) this.queue.add(keyOf(c));
    };
    this.secrets.on({
      onAdd: secretToClusters,
      onUpdate: (_o, s) => secretToClusters(s),
      onDelete: secretToClusters,
    });

    this.events = new EventRecorder(o.client, o.clock, o.identity, o.log);
    const drains = new DrainTracker(
      o.clock,
      (key) => this.queue.add(key),
      15_000,
      (result) => o.metrics.drains.inc({ result }),
    );
    this.reconciler = new Reconciler({
      client: o.client,
      caches: this.caches(),
      nodes: o.nodes,
      drains,
      events: this.events,
      metrics: o.metrics,
      discovery: new ApiDiscovery(o.client, o.clock, o.reconciler.discoveryTtlMs),
      clock: o.clock,
      log: o.log,
      options: o.reconciler,
    });
  }

  /** Starts the informers, waits for their caches, then starts the workers. */
  async start(signal?: AbortSignal): Promise<void> {
    this.running = true;
    for (const inf of this.informers) inf.start();
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    if (signal?.aborted || !this.running) return;
    this.o.log.info({ clusters: this.clusters.list().length }, 'caches synced; starting workers');
    for (let i = 0; i < this.o.workers; i++) this.workers.push(this.work(i));
    this.scheduleResync();
  }

  /** True once every cache is synced. */
  synced(): boolean {
    return this.informers.every((i) => i.synced());
  }

  /** Stops taking work, waits for reconciles in progress, stops the watches. */
  async stop(): Promise<void> {
    this.running = false;
    this.resyncTimer?.cancel();
    this.queue.shutDown();
    await Promise.all(this.workers);
    await this.queue.drained();
    this.workers = [];
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.events.flush();
  }

  private async work(id: number): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = this.o.metrics.reconcileDuration.startTimer();
      try {
        const out = await this.tracedReconcile(key);
        this.o.metrics.reconciles.inc({ result: out.result });
        if (out.result === 'retry' || out.result === 'conflict') {
          if (out.reason) this.o.metrics.reconcileErrors.inc({ reason: out.reason });
          this.queue.addRateLimited(key);
        } else {
          this.queue.forget(key);
          if (out.requeueAfterMs) this.queue.addAfter(key, out.requeueAfterMs);
        }
      } catch (err) {
        const reason = err instanceof KubeApiError ? err.reason || `HTTP${err.statusCode}` : 'Error';
        this.o.metrics.reconciles.inc({ result: 'error' });
        this.o.metrics.reconcileErrors.inc({ reason });
        this.o.log.warn(
          { cluster: key, worker: id, err: errorText(err) },
          'reconcile failed; retrying with backoff',
        );
        this.queue.addRateLimited(key);
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  /** One reconcile in a span of its own: the cluster, the result and when it runs again. */
  private tracedReconcile(key: string): Promise<ReconcileOutcome> {
    const { namespace, name } = splitKey(key);
    return inRootSpan(
      'reconcile',
      { 'k8s.namespace.name': namespace, 'kvring.kvcluster.name': name },
      async (span) => {
        const out = await this.reconciler.reconcile(key);
        span?.setAttributes({
          'kvring.reconcile.result': out.result,
          'kvring.reconcile.requeue': out.result !== 'success' || out.requeueAfterMs !== undefined,
          ...(out.requeueAfterMs !== undefined && {
            'kvring.reconcile.requeue_after_ms': out.requeueAfterMs,
          }),
          ...(out.reason && { 'kvring.reconcile.reason': out.reason }),
        });
        return out;
      },
    );
  }

  private scheduleResync(): void {
    if (!this.running) return;
    const jitter = 1 + Math.random() * 0.1;
    this.resyncTimer = this.o.clock.setTimer(this.o.resyncMs * jitter, () => {
      for (const c of this.clusters.list()) this.queue.add(keyOf(c));
      this.scheduleResync();
    });
  }

  private caches(): ClusterCaches {
    return {
      cluster: (ns, name) => this.clusters.get(ns, name),
      statefulSet: (ns, name) => this.statefulSets.get(ns, name),
      pods: (ns, clusterName) => {
        const sel = selectorLabels(clusterName);
        return this.pods
          .list(ns)
          .filter((p) => Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v));
      },
      owned: (kind, ns, name) => this.owned.get(kind)?.get(ns, name),
    };
  }
}

function podSummary(p: V1Pod & KubeObject): string {
  const ready = (p.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status;
  return [
    p.status?.phase,
    p.status?.podIP,
    ready,
    p.metadata?.labels?.['controller-revision-hash'],
    p.metadata?.deletionTimestamp,
  ].join('|');
}
