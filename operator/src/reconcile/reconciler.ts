// One reconcile of one KVCluster: observe (caches, Secrets, the nodes'
// own reports), decide (scale-down drains, rollout partition), build the
// desired objects (pure), apply them with server-side apply, and write the
// status only when it changed. Nothing here blocks on a slow node: probes
// have short deadlines and drains run in the background (drains.ts).
import type { V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { CONDITION, findCondition } from '../api/conditions.js';
import {
  splitKey,
  withDefaults,
  type Condition,
  type KubeObject,
  type KVCluster,
  type KVClusterStatus,
  type ResolvedSpec,
} from '../api/types.js';
import { buildCertificate } from '../builders/certificate.js';
import type { BuildContext } from '../builders/context.js';
import { desiredObjects, type DesiredObjects } from '../builders/desired.js';
import { ANNOTATIONS, PORTS, namesOf, peerServiceFqdn, podNames } from '../builders/names.js';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import type { ApiDiscovery } from '../kube/discovery.js';
import { KubeApiError } from '../kube/errors.js';
import { errorText } from '../kube/informer.js';
import { RESOURCES, resourceOf } from '../kube/resources.js';
import type { Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';
import type { NodeConnection, NodeConnector } from '../node-client.js';
import type { DrainTracker } from './drains.js';
import type { NodeReport } from './node-report.js';
import { podAddress, probeNodes } from './probe.js';
import { checkSecrets, secretRefs } from './references.js';
import { checkSpec } from './spec-check.js';
import { checkTracing } from './tracing-check.js';
import { planRollout, ringSettled, type RolloutPlan } from './rollout.js';
import { planScale, type ScalePlan } from './scale-down.js';
import { WarmupEvents } from './warm-events.js';
import { computeStatus, statusChanged, type Problem } from './status.js';

/** Read access to the informers' caches. */
export interface ClusterCaches {
  cluster(namespace: string, name: string): KVCluster | undefined;
  statefulSet(namespace: string, name: string): V1StatefulSet | undefined;
  /** The pods of one cluster. */
  pods(namespace: string, clusterName: string): V1Pod[];
  /** An owned object of another kind, as last seen (undefined when absent). */
  owned(
    kind: 'ConfigMap' | 'Service' | 'PodDisruptionBudget',
    namespace: string,
    name: string,
  ): KubeObject | undefined;
}

export interface ReconcilerOptions {
  clusterDomain: string;
  /** A scale-down stops waiting for drains after this long (warmth is lost, not data). */
  drainTimeoutMs: number;
  /** Requeue while something is in motion (drain, rollout, not ready). */
  busyRequeueMs: number;
  /** Requeue of a settled cluster, to refresh the nodes' reports. */
  steadyRequeueMs: number;
  /** How long the answer "is the ServiceMonitor API served?" is reused. */
  discoveryTtlMs: number;
}

export const DEFAULT_RECONCILER_OPTIONS: ReconcilerOptions = {
  clusterDomain: 'cluster.local',
  drainTimeoutMs: 10 * 60_000,
  busyRequeueMs: 5_000,
  steadyRequeueMs: 60_000,
  discoveryTtlMs: 300_000,
};

export type ReconcileResultKind = 'success' | 'requeue' | 'retry' | 'conflict';

export interface ReconcileOutcome {
  result: ReconcileResultKind;
  requeueAfterMs?: number;
  /** Why a retry is needed (a condition reason). */
  reason?: string;
}

export interface ReconcilerDeps {
  client: KubeClient;
  caches: ClusterCaches;
  nodes: NodeConnector;
  drains: DrainTracker;
  events: EventSink;
  metrics: OperatorMetrics;
  discovery: ApiDiscovery;
  clock: Clock;
  log: Logger;
  options: ReconcilerOptions;
}

export class Reconciler {
  /** Which pod processes' warm-ups were already told as Events. */
  private readonly warmups = new WarmupEvents();

  constructor(private readonly d: ReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const { namespace, name } = splitKey(key);
    const cluster = this.d.caches.cluster(namespace, name);
    if (!cluster) {
      // Deleted: the owned objects go with it (owner references, garbage collector).
      this.d.drains.forget(key);
      this.d.nodes.forget(key);
      this.warmups.forget(key);
      this.d.metrics.forgetCluster(namespace, name);
      return { result: 'success' };
    }
    if (cluster.metadata.deletionTimestamp) return { result: 'success' };

    const spec = withDefaults(cluster.spec);
    const names = namesOf(name);
    const now = new Date(this.d.clock.now()).toISOString();
    const log = this.d.log.child({ cluster: key });

    // Before the Secrets are checked: cert-manager creates the TLS Secret from it.
    const certProblem = await this.reconcileCertificate(cluster, spec, log);
    const secrets = await this.fetchSecrets(namespace, spec);
    const check = checkSecrets(spec, namespace, secrets);
    const specProblem = checkSpec(spec) ?? checkTracing(spec) ?? certProblem;
    if (specProblem && !check.problem) check.problem = specProblem;
    const observed = this.d.caches.statefulSet(namespace, names.statefulSet);
    const postgresTarget = spec.postgres.urlSecret
      ? `the URL in Secret ${spec.postgres.urlSecret.name}`
      : `${spec.postgres.host}:${spec.postgres.port}`;

    if (check.problem) {
      // Hold everything as it is: applying now would start pods that fail
      // on the missing reference.
      this.d.events.record(cluster, 'Warning', check.problem.reason, check.problem.message);
      const status = computeStatus({
        cluster,
        spec,
        now,
        statefulSet: observed,
        problem: check.problem,
        reports: [],
        expectedMembers: podNames(name, observed?.spec?.replicas ?? 0),
        postgresTarget,
      });
      const outcome = await this.writeStatus(cluster, status, spec);
      if (outcome) return outcome;
      log.info({ reason: check.problem.reason }, check.problem.message);
      return { result: 'retry', reason: check.problem.reason };
    }

    const pods = this.d.caches.pods(namespace, name);
    const conn = this.d.nodes.forCluster(key, check.security);
    const fqdn = peerServiceFqdn(cluster, this.d.options.clusterDomain);
    const reports = await probeNodes(conn, pods, fqdn, !!spec.tls);
    for (const e of this.warmups.fresh(key, reports))
      this.d.events.record(cluster, e.type, e.reason, e.note, 'Observe');

    const scale = this.planScaleWithDrains(cluster, spec, observed, pods, conn, fqdn, now);
    const ctx0: BuildContext = {
      clusterDomain: this.d.options.clusterDomain,
      statefulSetReplicas: scale.statefulSetReplicas,
      partition: 0,
      secretsHash: check.secretsHash,
      tlsHasCa: check.tlsHasCa,
      // Asked even when disabled: a ServiceMonitor created earlier must then be removed.
      serviceMonitorAvailable: await this.serviceMonitorsServed(log),
    };
    const templateHash = desiredObjects(cluster, ctx0).statefulSet.metadata!.annotations![
      ANNOTATIONS.templateHash
    ]!;
    const rollout = this.planRollout(observed, templateHash, spec, scale, reports);
    const desired = desiredObjects(cluster, { ...ctx0, partition: rollout.partition });

    const applied = await this.applyAll(cluster, desired, spec, ctx0.serviceMonitorAvailable);
    this.recordSteps(cluster, observed, scale, rollout);

    const sts = applied.statefulSet ?? observed;
    const status = computeStatus({
      cluster,
      spec,
      now,
      statefulSet: sts,
      ...(applied.problem && { problem: applied.problem }),
      rollout,
      scale,
      reports,
      expectedMembers: podNames(name, sts?.spec?.replicas ?? scale.statefulSetReplicas),
      postgresTarget,
      pods,
    });
    const written = await this.writeStatus(cluster, status, spec);
    if (written) return written;
    if (applied.problem) return { result: 'retry', reason: applied.problem.reason };

    const settled =
      scale.phase === 'Steady' &&
      rollout.phase === 'Idle' &&
      findCondition(status.conditions, CONDITION.Ready)?.status === 'True' &&
      findCondition(status.conditions, CONDITION.RingConverged)?.status !== 'False';
    return {
      result: 'requeue',
      requeueAfterMs: settled ? this.d.options.steadyRequeueMs : this.d.options.busyRequeueMs,
    };
  }

  /** GETs each referenced Secret (contents are never cached in memory). */
  private async fetchSecrets(
    namespace: string,
    spec: ResolvedSpec,
  ): Promise<Map<string, V1Secret | undefined>> {
    const out = new Map<string, V1Secret | undefined>();
    for (const ref of secretRefs(spec)) {
      if (out.has(ref.secret)) continue;
      out.set(
        ref.secret,
        await this.d.client.get<V1Secret & KubeObject>(RESOURCES.secret, namespace, ref.secret),
      );
    }
    return out;
  }

  /**
   * spec.tls.issuerRef set: applies the cert-manager Certificate (a problem
   * when cert-manager is not installed or the apply fails). Unset: deletes
   * a Certificate this cluster owns from before.
   */
  private async reconcileCertificate(
    cluster: KVCluster,
    spec: ResolvedSpec,
    log: Logger,
  ): Promise<Problem | undefined> {
    let served: boolean;
    try {
      served = await this.d.discovery.certificates();
    } catch (err) {
      log.warn({ err: errorText(err) }, 'could not check for the cert-manager API');
      served = false;
    }
    const wanted = buildCertificate(cluster, spec, this.d.options.clusterDomain);
    if (!wanted) {
      if (!served) return undefined;
      const ns = cluster.metadata.namespace;
      const old = await this.d.client.get(
        RESOURCES.certificate,
        ns,
        namesOf(cluster.metadata.name).certificate,
      );
      if (old && ownedBy(old, cluster)) await this.deleteOwned(cluster, old, 'Certificate');
      return undefined;
    }
    if (!served)
      return {
        reason: 'CertManagerUnavailable',
        message:
          'spec.tls.issuerRef is set but the cert-manager API (cert-manager.io/v1 Certificate) is not installed: ' +
          'install cert-manager, or create the TLS Secret yourself and remove spec.tls.issuerRef',
      };
    try {
      await this.d.client.apply<KubeObject>(wanted);
      return undefined;
    } catch (err) {
      return applyProblem(wanted, err);
    }
  }

  private async serviceMonitorsServed(log: Logger): Promise<boolean> {
    try {
      return await this.d.discovery.serviceMonitors();
    } catch (err) {
      log.warn({ err: errorText(err) }, 'could not check for the ServiceMonitor API');
      return false;
    }
  }

  private planScaleWithDrains(
    cluster: KVCluster,
    spec: ResolvedSpec,
    observed: V1StatefulSet | undefined,
    pods: readonly V1Pod[],
    conn: NodeConnection,
    fqdn: string,
    now: string,
  ): ScalePlan {
    const key = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    const base = {
      desired: spec.replicas,
      current: observed?.spec?.replicas,
      previous: cluster.status?.scaleDown,
      statefulSetName: namesOf(cluster.metadata.name).statefulSet,
      now,
    };
    const first = planScale({ ...base, drainedNow: [] });
    if (first.leaving.length === 0) {
      this.d.drains.forget(key);
      return first;
    }
    if (first.pending.length === 0) return first;
    const startedAt = Date.parse(first.status?.startedAt ?? now);
    if (this.d.clock.now() - startedAt > this.d.options.drainTimeoutMs) {
      this.d.events.record(
        cluster,
        'Warning',
        'DrainTimedOut',
        `${first.pending.join(', ')} did not finish draining within ${Math.round(this.d.options.drainTimeoutMs / 1000)}s; ` +
          'scaling down anyway (their keys stay in PostgreSQL and are read back on demand)',
      );
      return planScale({ ...base, drainedNow: first.pending });
    }
    const byName = new Map(pods.map((p) => [p.metadata?.name ?? '', p]));
    const poll = this.d.drains.poll(
      key,
      conn,
      first.leaving.map((n) => {
        const pod = byName.get(n);
        // Drain is served on the peer port only.
        const address = pod && podAddress(pod, fqdn, !!spec.tls, PORTS.peer);
        return { name: n, ...(address && { address }) };
      }),
    );
    if (poll.started.length > 0)
      this.d.events.record(
        cluster,
        'Normal',
        'Draining',
        `asking ${poll.started.join(', ')} to hand over their keys before scaling down to ${spec.replicas}`,
        'Drain',
      );
    for (const s of poll.succeeded)
      this.d.events.record(
        cluster,
        'Normal',
        'Drained',
        `${s.pod} handed over ${s.keysStreamed} key(s)`,
        'Drain',
      );
    for (const p of poll.skipped)
      this.d.events.record(
        cluster,
        'Normal',
        'DrainSkipped',
        `${p} is not running: it holds nothing in memory to hand over`,
        'Drain',
      );
    for (const f of poll.failed)
      this.d.events.record(cluster, 'Warning', 'DrainFailed', `${f.pod}: ${f.error}; retrying`, 'Drain');
    return planScale({ ...base, drainedNow: poll.drained });
  }

  private planRollout(
    observed: V1StatefulSet | undefined,
    templateHash: string,
    spec: ResolvedSpec,
    scale: ScalePlan,
    reports: readonly NodeReport[],
  ): RolloutPlan {
    const ringConverged = ringSettled(reports);
    if (observed && (scale.phase === 'Draining' || scale.phase === 'ScalingDown')) {
      // One change at a time: the pods that receive the drained keys stay up.
      const replicas = observed.spec?.replicas ?? 0;
      const current = observed.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
      const changed = observed.metadata?.annotations?.[ANNOTATIONS.templateHash] !== templateHash;
      return {
        partition: changed ? replicas : current,
        phase: changed || current > 0 ? 'Waiting' : 'Idle',
        message: 'the rolling update waits for the scale-down to finish',
      };
    }
    return planRollout({
      observed,
      desiredTemplateHash: templateHash,
      replicationFactor: spec.replicationFactor,
      writeQuorum: spec.writeQuorum,
      ringConverged,
    });
  }

  private async applyAll(
    cluster: KVCluster,
    desired: DesiredObjects,
    spec: ResolvedSpec,
    serviceMonitorAvailable: boolean,
  ): Promise<{ statefulSet?: V1StatefulSet; problem?: Problem }> {
    const ns = cluster.metadata.namespace;
    const c = this.d.caches;
    const n = namesOf(cluster.metadata.name);
    const steps: { obj: KubeObject; existed: boolean }[] = [
      { obj: desired.configMap as KubeObject, existed: !!c.owned('ConfigMap', ns, n.configMap) },
      { obj: desired.peerService as KubeObject, existed: !!c.owned('Service', ns, n.peerService) },
      { obj: desired.clientService as KubeObject, existed: !!c.owned('Service', ns, n.clientService) },
      { obj: desired.statefulSet as KubeObject, existed: !!c.statefulSet(ns, n.statefulSet) },
    ];
    if (desired.podDisruptionBudget)
      steps.push({
        obj: desired.podDisruptionBudget as KubeObject,
        existed: !!c.owned('PodDisruptionBudget', ns, n.podDisruptionBudget),
      });
    if (desired.serviceMonitor) steps.push({ obj: desired.serviceMonitor, existed: true });
    let statefulSet: V1StatefulSet | undefined;
    for (const step of steps) {
      try {
        const res = await this.d.client.apply<KubeObject>(step.obj);
        if (step.obj.kind === 'StatefulSet') statefulSet = res as V1StatefulSet;
        if (!step.existed)
          this.d.events.record(
            cluster,
            'Normal',
            'Created',
            `created ${step.obj.kind} ${step.obj.metadata?.name}`,
            'Apply',
          );
      } catch (err) {
        const problem = applyProblem(step.obj, err);
        this.d.events.record(cluster, 'Warning', problem.reason, problem.message, 'Apply');
        return { problem };
      }
    }
    // Objects the spec no longer asks for.
    const pdb = c.owned('PodDisruptionBudget', ns, n.podDisruptionBudget);
    if (!desired.podDisruptionBudget && pdb && ownedBy(pdb, cluster))
      await this.deleteOwned(cluster, pdb, 'PodDisruptionBudget');
    if (!desired.serviceMonitor && serviceMonitorAvailable) {
      const sm = await this.d.client.get(RESOURCES.serviceMonitor, ns, n.serviceMonitor);
      if (sm && ownedBy(sm, cluster)) await this.deleteOwned(cluster, sm, 'ServiceMonitor');
    } else if (spec.serviceMonitor.enabled && !serviceMonitorAvailable) {
      this.d.events.record(
        cluster,
        'Warning',
        'ServiceMonitorUnavailable',
        'spec.monitoring.serviceMonitor.enabled is true but the ServiceMonitor API (monitoring.coreos.com/v1) ' +
          'is not installed; install the prometheus-operator CRDs or scrape the pods on port 8080',
      );
    }
    return { ...(statefulSet && { statefulSet }) };
  }

  private async deleteOwned(cluster: KVCluster, obj: KubeObject, kind: string): Promise<void> {
    const m = obj.metadata!;
    await this.d.client.delete(
      resourceOf({ ...obj, kind, apiVersion: obj.apiVersion ?? apiVersionFor(kind) }),
      m.namespace,
      m.name!,
      {
        ...(m.uid && { uid: m.uid }),
      },
    );
    this.d.events.record(
      cluster,
      'Normal',
      'Deleted',
      `deleted ${kind} ${m.name} (no longer in the spec)`,
      'Apply',
    );
  }

  private recordSteps(
    cluster: KVCluster,
    observed: V1StatefulSet | undefined,
    scale: ScalePlan,
    rollout: RolloutPlan,
  ): void {
    const before = observed?.spec?.replicas;
    if (before !== undefined && scale.statefulSetReplicas > before)
      this.d.events.record(
        cluster,
        'Normal',
        'ScaledUp',
        `scaled the StatefulSet up from ${before} to ${scale.statefulSetReplicas}`,
        'Scale',
      );
    if (before !== undefined && scale.statefulSetReplicas < before)
      this.d.events.record(
        cluster,
        'Normal',
        'ScaledDown',
        `scaled the StatefulSet down from ${before} to ${scale.statefulSetReplicas} after draining ${scale.leaving.join(', ')}`,
        'Scale',
      );
    if (rollout.phase === 'Started' || rollout.phase === 'Rolling')
      this.d.events.record(cluster, 'Normal', 'RollingUpdate', rollout.message, 'Rollout');
    if (rollout.phase === 'Blocked')
      this.d.events.record(cluster, 'Warning', 'RolloutBlocked', rollout.message, 'Rollout');
  }

  /** Writes the status when it changed; a conflict asks for a retry. */
  private async writeStatus(
    cluster: KVCluster,
    status: KVClusterStatus,
    spec: ResolvedSpec,
  ): Promise<ReconcileOutcome | undefined> {
    const { namespace, name } = cluster.metadata;
    this.d.metrics.setCluster(
      namespace,
      name,
      spec.replicas,
      status.readyReplicas ?? 0,
      status.conditions ?? [],
    );
    if (!statusChanged(cluster.status, status)) return undefined;
    this.recordTransitions(cluster, cluster.status?.conditions ?? [], status.conditions ?? []);
    // The cached object, minus managedFields (the server keeps its own), with
    // its resourceVersion: a newer write by anyone makes this a 409.
    const { managedFields: _mf, ...metadata } = cluster.metadata;
    try {
      await this.d.client.replace(RESOURCES.kvCluster, { ...cluster, metadata, status } as KubeObject, {
        subresource: 'status',
      });
      return undefined;
    } catch (err) {
      if (err instanceof KubeApiError && err.isConflict) return { result: 'conflict', reason: 'Conflict' };
      if (err instanceof KubeApiError && err.isNotFound) return { result: 'success' };
      throw err;
    }
  }

  private recordTransitions(
    cluster: KVCluster,
    before: readonly Condition[],
    after: readonly Condition[],
  ): void {
    const was = (t: string): string | undefined => findCondition(before, t)?.status;
    const ready = findCondition(after, CONDITION.Ready);
    if (ready && ready.status === 'True' && was(CONDITION.Ready) !== 'True')
      this.d.events.record(cluster, 'Normal', 'ClusterReady', ready.message);
    if (ready && ready.status === 'False' && was(CONDITION.Ready) === 'True')
      this.d.events.record(cluster, 'Warning', 'ClusterNotReady', `${ready.reason}: ${ready.message}`);
    const degraded = findCondition(after, CONDITION.Degraded);
    if (degraded && degraded.status === 'False' && was(CONDITION.Degraded) === 'True')
      this.d.events.record(cluster, 'Normal', 'Recovered', 'the cluster is no longer degraded');
  }
}

function applyProblem(obj: KubeObject, err: unknown): Problem {
  const what = `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`;
  if (err instanceof KubeApiError) {
    if (err.isForbidden)
      return {
        reason: 'Forbidden',
        message: `the operator may not write ${what}: ${err.message} (check its RBAC)`,
      };
    return { reason: 'ApplyFailed', message: `the API server rejected ${what}: ${err.message}` };
  }
  return { reason: 'ApplyFailed', message: `could not apply ${what}: ${errorText(err)}` };
}

function ownedBy(obj: KubeObject, cluster: KVCluster): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === cluster.metadata.uid && r.controller);
}

function apiVersionFor(kind: string): string {
  return kind === 'PodDisruptionBudget'
    ? 'policy/v1'
    : kind === 'ServiceMonitor'
      ? 'monitoring.coreos.com/v1'
      : kind === 'Certificate'
        ? 'cert-manager.io/v1'
        : 'v1';
}
