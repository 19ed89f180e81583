// The operator process: HTTP endpoints, leader election, and a Controller
// that exists only while this process leads. Losing the lease stops the
// controller (workers drained, watches closed) and the process campaigns
// again; it never exits on its own.
import type { KubeConfig } from '@kubernetes/client-node';
import type { AddressInfo } from 'node:net';
import { realClock, type Clock } from './clock.js';
import { Controller } from './controller.js';
import { OperatorHttpServer } from './http-server.js';
import { KubeClient } from './kube/client.js';
import { errorText } from './kube/informer.js';
import { KubeLeaseStore } from './leader/kube-lease-store.js';
import { LeaderElector } from './leader/leader-elector.js';
import type { Logger } from './log.js';
import { OperatorMetrics } from './metrics.js';
import { GrpcNodeConnector, type NodeConnector } from './node-client.js';
import { DEFAULT_RECONCILER_OPTIONS, type ReconcilerOptions } from './reconcile/reconciler.js';

export interface LeaderElectionOptions {
  enabled: boolean;
  namespace: string;
  name: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  identity: string;
  log: Logger;
  /** Watch one namespace only (default: all). */
  namespace?: string;
  workers?: number;
  resyncMs?: number;
  reconciler?: Partial<ReconcilerOptions>;
  leaderElection: LeaderElectionOptions;
  /** Where /metrics, /healthz and /readyz listen; undefined: no HTTP server. */
  http?: { host: string; port: number };
  clock?: Clock;
  nodes?: NodeConnector;
  metrics?: OperatorMetrics;
}

export class Operator {
  readonly metrics: OperatorMetrics;
  private readonly client: KubeClient;
  private readonly clock: Clock;
  private readonly nodes: NodeConnector;
  private readonly http: OperatorHttpServer;
  private controller: Controller | undefined;
  private controllerStarting: Promise<void> | undefined;
  private elector: LeaderElector | undefined;
  private readonly stopping = new AbortController();
  private campaign: Promise<void> | undefined;
  private address: AddressInfo | undefined;

  constructor(private readonly o: OperatorOptions) {
    this.clock = o.clock ?? realClock;
    this.metrics = o.metrics ?? new OperatorMetrics();
    this.client = new KubeClient(o.kubeConfig, { userAgent: `kvring-operator/${o.identity}` });
    this.nodes = o.nodes ?? new GrpcNodeConnector();
    this.http = new OperatorHttpServer(this.metrics.registry, {
      notReadyReasons: () => this.notReadyReasons(),
    });
  }

  /** Starts serving and campaigning; resolves once the HTTP server listens. */
  async start(): Promise<void> {
    if (this.o.http) this.address = await this.http.listen(this.o.http.host, this.o.http.port);
    const le = this.o.leaderElection;
    this.o.log.info(
      {
        identity: this.o.identity,
        server: this.client.serverUrl,
        namespace: this.o.namespace ?? '(all)',
        leaderElection: le.enabled ? `${le.namespace}/${le.name}` : 'disabled',
        http: this.address ? `${this.address.address}:${this.address.port}` : 'off',
      },
      'kvring operator starting',
    );
    if (!le.enabled) {
      this.startController(this.stopping.signal);
      return;
    }
    this.elector = new LeaderElector({
      store: new KubeLeaseStore(this.client, le.namespace, le.name),
      identity: this.o.identity,
      clock: this.clock,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      onStartedLeading: (signal) => this.startController(signal),
      onStoppedLeading: () => this.stopController(),
      onNewLeader: (id) => this.o.log.info({ leader: id }, 'another operator leads; standing by'),
      log: (msg, fields) => this.o.log.info(fields ?? {}, msg),
    });
    this.campaign = this.elector.run(this.stopping.signal).catch((err: unknown) => {
      this.o.log.error({ err: errorText(err) }, 'leader election stopped unexpectedly');
    });
  }

  /** Graceful stop: finish reconciles in progress, release the lease, close everything. */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.campaign;
    await this.stopController();
    this.nodes.closeAll();
    await this.http.close();
    await this.client.close();
    this.o.log.info('kvring operator stopped');
  }

  isLeader(): boolean {
    return this.o.leaderElection.enabled ? !!this.elector?.isLeader() : !this.stopping.signal.aborted;
  }

  /** Where the HTTP server listens (after start). */
  httpAddress(): AddressInfo | undefined {
    return this.address;
  }

  private startController(signal: AbortSignal): void {
    this.metrics.leader.set(1);
    const controller = new Controller({
      client: this.client,
      clock: this.clock,
      log: this.o.log,
      metrics: this.metrics,
      nodes: this.nodes,
      identity: this.o.identity,
      ...(this.o.namespace && { namespace: this.o.namespace }),
      workers: this.o.workers ?? 2,
      resyncMs: this.o.resyncMs ?? 10 * 60_000,
      reconciler: { ...DEFAULT_RECONCILER_OPTIONS, ...this.o.reconciler },
    });
    this.controller = controller;
    this.controllerStarting = controller.start(signal).catch((err: unknown) => {
      this.o.log.error({ err: errorText(err) }, 'controller failed to start');
    });
  }

  private async stopController(): Promise<void> {
    const c = this.controller;
    this.controller = undefined;
    this.metrics.leader.set(0);
    if (!c) return;
    await c.stop();
    await this.controllerStarting;
  }

  private notReadyReasons(): string[] {
    if (this.stopping.signal.aborted) return ['shutting down'];
    if (this.o.leaderElection.enabled && !this.elector?.isLeader()) return [];
    if (!this.controller) return ['controller not started'];
    return this.controller.synced() ? [] : ['informer caches are syncing'];
  }
}
