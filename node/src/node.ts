// A kvring node: wires the store, PostgreSQL, the legacy client, membership,
// the coordinator, the background loops and the three ports, and shuts them
// down in the right order on SIGTERM.
import { isIP } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Server } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { NodeConfig } from './config/config.js';
import {
  MemberState,
  type ClusterInfoResponse,
  type DrainRequest,
  type DrainResponse,
  type WarmupReport,
} from './gen/kvring/v1/kvring.js';
import type { DigestResponse } from './gen/kvring/v1/peer.js';
import { AntiEntropy, type AntiEntropySource } from './cluster/anti-entropy.js';
import { Coordinator } from './cluster/coordinator.js';
import { DnsDiscovery, StaticDiscovery, type Discovery } from './cluster/discovery.js';
import { Handoff } from './cluster/handoff.js';
import { hotKeys } from './cluster/hot-keys.js';
import { HintReplayer } from './cluster/hint-replayer.js';
import { Hints } from './cluster/hints.js';
import { newIncarnation } from './cluster/incarnation.js';
import { LocalHandle } from './cluster/local-handle.js';
import { LocalReplica } from './cluster/local-replica.js';
import { Membership } from './cluster/membership.js';
import { RingView } from './cluster/ring-view.js';
import { Warmup } from './cluster/warmup.js';
import { Ring } from '@kvring/client/ring';
import { LegacyClient } from './legacy/client.js';
import type { Logger } from './log.js';
import { NodeMetrics } from './metrics.js';
import { PeerConnection, type PeerChange } from './peer/connection.js';
import { peerService } from './peer/server.js';
import { PurgeJob } from './pg/purge-job.js';
import { PgStore } from './pg/store.js';
import type { ChangeCursor } from './pg/types.js';
import { bind, clientServer, peerServer, serveAdmin } from './server/grpc-servers.js';
import { httpServer } from './server/http.js';
import { loadSecurity, type Security } from './server/security.js';
import { MemoryStore } from './store/memory-store.js';

/** A stopping node closes its client port once no client called for this long (clients back off 1 s after a refusal)... */
const CLIENTS_AWAY_QUIET_MS = 300;
/** ...or after this long at most, whatever clients do. */
const CLIENTS_AWAY_MAX_MS = 3_000;

export class KvNode {
  readonly incarnation = newIncarnation();
  readonly metrics: NodeMetrics;
  readonly store: MemoryStore;
  readonly hints: Hints;
  private readonly replica: LocalReplica;
  /** This node's ring view: the fence of ring transitions (ring-view.ts). */
  private readonly view: RingView;
  private pg!: PgStore;
  private legacy: LegacyClient | undefined;
  private membership!: Membership;
  private coordinator!: Coordinator;
  private replayer!: HintReplayer;
  private antiEntropy!: AntiEntropy<ChangeCursor>;
  private handoff!: Handoff;
  private purge: PurgeJob | undefined;
  /** Readiness waits for it (warmup.ts). */
  private warmup: Warmup | undefined;
  /** Peers that opened a replication stream to this process. */
  private readonly inbound = new Set<string>();
  private clientSrv: Server | undefined;
  private peerSrv: Server | undefined;
  private http: HttpServer | undefined;
  private security: Security | undefined;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private draining = false;
  /** The client port is bound: set at the end of start(). */
  private serving = false;
  private stopping: Promise<void> | undefined;
  /** Aborted as the node stops: open Pipeline streams close once their operations are answered. */
  private readonly stopSignal = new AbortController();
  private gauges: NodeJS.Timeout | undefined;

  constructor(
    readonly cfg: NodeConfig,
    private readonly log: Logger,
  ) {
    this.metrics = new NodeMetrics({ member: cfg.nodeName });
    const now = (): number => performance.now();
    this.store = new MemoryStore({
      maxBytes: cfg.maxMemory,
      now,
      onEvict: () => this.metrics.evictions.inc(),
      onExpire: () => this.metrics.expirations.inc(),
    });
    this.metrics.cacheMaxBytes.set(cfg.maxMemory);
    // Until membership is known this node owns every key, as before it knew its peers.
    this.view = new RingView(
      cfg.nodeName,
      cfg.replicationFactor,
      new Ring([cfg.nodeName], { vnodes: cfg.vnodes }),
    );
    this.replica = new LocalReplica(this.store, this.incarnation, now, this.view, (hit) =>
      this.metrics.memoryReads.inc({ result: hit ? 'hit' : 'miss' }),
    );
    this.hints = new Hints({ maxBytes: cfg.hintsMaxBytes, maxAgeMs: cfg.hintsMaxAgeMs }, this.metrics);
  }

  get peerAddress(): string {
    return `${this.cfg.advertiseHost}:${this.cfg.peerPort}`;
  }

  /**
   * Where this process's peer port is reachable right now, announced in the
   * Hello of every stream it dials: the pod IP (KVRING_POD_IP), else the
   * advertise host when it is an IP address; '' announces nothing (a DNS
   * name would say no more than discovery does).
   */
  get announcedPeerAddress(): string {
    const { podIp, advertiseHost, peerPort } = this.cfg;
    const host = podIp || (isIP(advertiseHost) !== 0 ? advertiseHost : '');
    if (!host) return '';
    return isIP(host) === 6 ? `[${host}]:${peerPort}` : `${host}:${peerPort}`;
  }

  async start(): Promise<void> {
    const { cfg, log, metrics } = this;
    const security = loadSecurity(cfg, log, metrics);
    this.security = security;
    security.start();
    this.http = httpServer(metrics.registry, {
      notReadyReason: () => this.notReadyReason(),
      status: () => this.clusterInfo(),
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(cfg.httpPort, cfg.host, () => resolve());
    });

    this.pg = await PgStore.open(
      {
        url: cfg.postgresUrl || undefined,
        host: cfg.postgresHost,
        port: cfg.postgresPort,
        database: cfg.postgresDatabase,
        user: cfg.postgresUser,
        password: cfg.postgresPassword,
        table: cfg.postgresTable,
        poolSize: cfg.postgresPoolSize,
        batchMax: cfg.postgresBatchMax,
        timeoutMs: cfg.postgresTimeoutMs,
        idempotencyTtlMs: cfg.idempotencyTtlMs,
      },
      { log: log.child({ component: 'postgres' }), metrics },
    );
    if (cfg.legacyUrl)
      this.legacy = new LegacyClient(
        {
          url: cfg.legacyUrl,
          pathTemplate: cfg.legacyPathTemplate,
          timeoutMs: cfg.legacyTimeoutMs,
          token: cfg.legacyToken || undefined,
          negativeTtlMs: cfg.legacyNegativeTtlMs,
        },
        { log: log.child({ component: 'legacy' }), metrics },
      );

    // The peer port opens before membership starts, so peers that already
    // run can reach this node while it waits for the others.
    const self = new LocalHandle(cfg.nodeName, this.replica, (key) =>
      this.coordinator.readThroughAsPrimary(key),
    );
    this.peerSrv = peerServer(
      peerService({
        selfName: cfg.nodeName,
        replica: this.replica,
        view: this.view,
        maxKeyBytes: cfg.maxKeyBytes,
        log,
        // Before membership starts there is no member to re-address: its first list has the news.
        onHello: (h) => this.membership?.announce(h.member, h.incarnation, h.address),
        legacyFetch: (key) => this.coordinator.readThroughAsPrimary(key),
        digest: (keys) => this.digest(keys),
        onPeerHello: (member) => {
          if (this.inbound.has(member)) return;
          this.inbound.add(member);
          this.warmup?.peerChanged();
        },
        hot: (req) => hotKeys(cfg.nodeName, this.store, this.view.ring, cfg.replicationFactor, req),
      }),
      this.health,
    );
    await bind(this.peerSrv, `${cfg.host}:${cfg.peerPort}`, security.peerServer);

    this.membership = await Membership.start(
      {
        discovery: this.discovery(),
        self,
        selfPeerAddress: this.peerAddress,
        vnodes: cfg.vnodes,
        replicationFactor: cfg.replicationFactor,
        connect: (name, address) =>
          new PeerConnection(name, address, {
            selfName: cfg.nodeName,
            selfIncarnation: this.incarnation,
            selfAddress: this.announcedPeerAddress,
            credentials: security.peerClient,
            peerTimeoutMs: cfg.peerTimeoutMs,
            failureTimeoutMs: cfg.failureTimeoutMs,
            slowOpTimeoutMs: cfg.requestTimeoutMs,
            log,
            metrics,
            onState: (conn, change) => this.onPeerState(conn, change),
          }),
        onRingChange: (ring) => this.onRingChange(ring),
        holdDownMs: cfg.memberHoldDownMs,
        selfLeaving: () => this.view.leaving,
        log: log.child({ component: 'membership' }),
        metrics,
      },
      cfg.discoveryIntervalMs,
    );
    this.view.reset(this.membership.ring);
    const warming = this.startWarmup();
    this.coordinator = new Coordinator(
      {
        readQuorum: cfg.readQuorum,
        writeQuorum: cfg.writeQuorum,
        defaultTtlMs: cfg.defaultTtlMs,
        limits: cfg,
      },
      {
        placement: this.membership.placement,
        durable: this.pg,
        legacy: this.legacy,
        hints: this.hints,
        log,
        metrics,
      },
    );
    this.replayer = new HintReplayer(this.hints, (m) => this.membership.placement.handle(m), log, metrics);
    this.handoff = new Handoff({
      store: this.store,
      self: cfg.nodeName,
      n: cfg.replicationFactor,
      view: this.view,
      handleOf: (m) => this.membership.placement.handle(m),
      hints: this.hints,
      replayHints: (deadline) => this.replayer.replayAll(deadline),
      log: log.child({ component: 'handoff' }),
      metrics,
    });
    this.antiEntropy = new AntiEntropy(
      this.changeSource(),
      this.store,
      () => this.membership.ring,
      cfg.nodeName,
      cfg.replicationFactor,
      log.child({ component: 'anti-entropy' }),
      metrics,
    );
    this.antiEntropy.start(cfg.antiEntropyIntervalMs);
    this.purge = this.purgeJob();
    this.purge.start();

    this.clientSrv = clientServer(
      { metrics, log, authorize: security.authorize },
      {
        coordinator: this.coordinator,
        limits: cfg,
        stopping: this.stopSignal.signal,
        clusterInfo: () => this.clusterInfo(),
      },
      this.health,
    );
    serveAdmin(this.peerSrv, { metrics, log }, (req) => this.drain(req));
    await this.peersConnected(cfg.failureTimeoutMs);
    await bind(this.clientSrv, `${cfg.host}:${cfg.clientPort}`, security.clientServer);
    void warming.then(() => {
      if (!this.stopping) this.health.setStatus('', 'SERVING');
    });
    this.serving = true;
    this.gauges = setInterval(() => {
      // Expired entries are never served; the sweep only returns their memory sooner.
      this.store.sweep(1000);
      this.updateGauges();
      this.checkSettled();
    }, 1000);
    this.gauges.unref();
    this.updateGauges();
    log.info(
      {
        incarnation: this.incarnation,
        client: `${cfg.host}:${cfg.clientPort}`,
        peer: `${cfg.host}:${cfg.peerPort}`,
        http: `${cfg.host}:${cfg.httpPort}`,
        members: this.membership.ring.members,
      },
      'node started',
    );
  }

  /** Graceful stop: refuse new work, finish in-flight requests, flush hints and the PostgreSQL batch. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const deadline = performance.now() + this.cfg.shutdownTimeoutMs;
    const left = (): number => Math.max(0, deadline - performance.now());
    this.health.setStatus('', 'NOT_SERVING');
    this.coordinator?.close();
    this.stopSignal.abort();
    if (this.gauges) clearInterval(this.gauges);
    await this.untilClientsMovedAway(Math.min(CLIENTS_AWAY_MAX_MS, left() * 0.25));
    await shutdownGrpc(this.clientSrv, left() * 0.6);
    this.antiEntropy?.stop();
    await this.purge?.stop();
    this.handoff?.stop();
    this.replayer?.stop();
    if (this.replayer) await this.replayer.replayAll(performance.now() + left() * 0.5);
    await this.pg?.close();
    await this.legacy?.close();
    await shutdownGrpc(this.peerSrv, Math.min(1000, left()));
    this.membership?.stop();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    this.http?.closeAllConnections();
    this.security?.close();
    this.log.info('node stopped');
  }

  /** Refills the hot set from PostgreSQL, for the keys peers report hot; bounded (KVRING_WARMUP_*). */
  private startWarmup(): Promise<unknown> {
    const { cfg } = this;
    this.warmup = new Warmup(
      {
        self: cfg.nodeName,
        // Half the store at most: writes arriving meanwhile keep their room.
        maxBytes: Math.min(cfg.warmupMaxBytes, Math.floor(cfg.maxMemory / 2)),
        timeoutMs: cfg.warmupTimeoutMs,
      },
      {
        peers: () => this.membership.connections(),
        readMany: (keys) => this.pg.readMany(keys),
        connectedIn: (peer) => this.inbound.has(peer),
        store: this.store,
        owns: (key) => this.view.owns(key),
        log: this.log.child({ component: 'warmup' }),
        metrics: this.metrics,
      },
    );
    return this.warmup.run();
  }

  /**
   * Waits (at most `boundMs`) until the stream to every peer is up. A node
   * that takes client calls before would refuse writes for too few replicas
   * up (QUORUM_UNAVAILABLE: resent by clients, but a round trip lost) just
   * after every restart; a peer that is really down is waited for only
   * this long.
   */
  private async peersConnected(boundMs: number): Promise<void> {
    const end = performance.now() + boundMs;
    while (performance.now() < end && !this.membership.connections().every((c) => c.up))
      await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * While clients still send here, the client port stays open and refuses
   * each call with SHUTTING_DOWN: a refusal at the door, which clients
   * resend to another node (a write too) and take as a sign to route
   * elsewhere. Closing the port at once instead makes a call that races
   * with the close fail as "may have been received" (grpc-js retries it on
   * a new connection, which is refused), and such a write cannot be resent.
   * Returns once no call came for CLIENTS_AWAY_QUIET_MS, or after `boundMs`.
   */
  private async untilClientsMovedAway(boundMs: number): Promise<void> {
    const start = performance.now();
    const end = start + boundMs;
    for (;;) {
      const now = performance.now();
      const last = Math.max(start, this.coordinator?.lastRefusalAt ?? start);
      if (now - last >= CLIENTS_AWAY_QUIET_MS || now >= end) return;
      await new Promise((r) => setTimeout(r, Math.min(50, end - now)));
    }
  }

  private discovery(): Discovery {
    const { cfg } = this;
    if (cfg.staticPeers.size > 0) return new StaticDiscovery(cfg.staticPeers);
    return new DnsDiscovery({
      service: cfg.discoveryService,
      portName: cfg.discoveryPortName,
      podPrefix: cfg.discoveryPodPrefix,
      peerPort: cfg.peerPort,
      server: cfg.dnsServer,
    });
  }

  /** The purge (KVRING_PURGE_*): with a legacy API, a tombstone goes only if the legacy API lacks its key. */
  private purgeJob(): PurgeJob {
    const { cfg, legacy } = this;
    const legacyHas =
      legacy === undefined
        ? undefined
        : (key: string) =>
            legacy.fetch(key).then(
              (r) => r.found,
              () => undefined,
            );
    return new PurgeJob(
      this.pg,
      { intervalMs: cfg.purgeIntervalMs, horizonMs: cfg.purgeAfterMs, batch: cfg.purgeBatch, legacyHas },
      this.log.child({ component: 'purge' }),
      this.metrics,
    );
  }

  private changeSource(): AntiEntropySource<ChangeCursor> {
    const pg = (): PgStore => this.pg;
    // Start a minute back: writes committed while this node started, whose
    // coordinator may have died, are still picked up.
    const start: ChangeCursor = { at: new Date(Date.now() - 60_000).toISOString(), key: '' };
    return {
      versions: (keys) => pg().newest(keys),
      readMany: (keys) => pg().readMany(keys),
      changedSince: async (cursor, limit) => {
        const page = await pg().changedSince(cursor ?? start, limit);
        return { rows: [...page.rows], expired: [...page.expired], cursor: page.next };
      },
    };
  }

  /**
   * The fence switches with the placement, in the same turn: from now on
   * this node refuses writes for keys it gave away, then streams them.
   */
  private onRingChange(ring: Ring): void {
    this.view.adopt(ring);
    this.handoff
      .rebalance(ring)
      .then(() => this.checkSettled())
      .catch((err: Error) => this.log.warn({ err: err.message }, 'handoff failed'));
  }

  /** Keys gained in the last change are trusted once every peer reports this view and its handoff done. */
  private checkSettled(): void {
    const st = this.view.status();
    if (!this.view.settling || !st.handedOff || !this.membership) return;
    for (const c of this.membership.connections()) if (c.view !== st.view || !c.handedOff) return;
    this.view.settle(st.view);
    this.log.info({ ring: st.view }, 'ring view settled: every member handed its keys over');
  }

  private onPeerState(conn: PeerConnection, change: PeerChange): void {
    this.warmup?.peerChanged();
    if (change === 'view') {
      // A peer that drains leaves the ring at once; one that reports a view
      // may settle this node's.
      if (conn.leaving) this.membership?.reapply();
      this.checkSettled();
      return;
    }
    if (change === 'restarted') {
      const dropped = this.hints.keepOnly(conn.name, conn.incarnation);
      this.log.info(
        { peer: conn.name, dropped },
        'peer restarted; hints for its previous incarnation dropped',
      );
    } else {
      this.log.info({ peer: conn.name, state: change }, 'peer state changed');
      if (change === 'up') void this.replayer?.replayAll();
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    const m = this.metrics;
    m.cacheEntries.set(this.store.size);
    m.cacheBytes.set(this.store.bytes);
    if (!this.membership) return;
    let up = 0;
    let down = 0;
    for (const h of this.membership.handles()) {
      m.memberUp.set({ member: h.name }, h.up ? 1 : 0);
      if (h.up) up++;
      else down++;
    }
    m.members.set({ state: 'up' }, up);
    m.members.set({ state: 'down' }, down);
  }

  private notReadyReason(): string | undefined {
    if (this.stopping) return 'shutting down';
    // Ready only once the client port is bound, which waits for the peer streams (peersConnected).
    if (!this.serving) return 'starting';
    if (!this.pg.reachable) return 'PostgreSQL unreachable';
    if (this.warmup !== undefined && this.warmup.report === undefined) return this.warmup.progress();
    return undefined;
  }

  clusterInfo(): ClusterInfoResponse {
    const { cfg } = this;
    const ring = this.membership?.ring;
    const own = ring?.ownership() ?? new Map<string, number>();
    return {
      self: cfg.nodeName,
      incarnation: this.incarnation,
      members: (this.membership?.handles() ?? []).map((h) => {
        // Itself at the address it announces (its pod IP, which a client
        // given the headless Service also resolves), the others where this
        // node reaches them.
        const peer = (h.isSelf ? this.announcedPeerAddress : '') || (this.membership.addressOf(h.name) ?? '');
        const host = peer.slice(0, peer.lastIndexOf(':'));
        return {
          name: h.name,
          peerAddress: peer,
          clientAddress: `${host}:${cfg.clientPort}`,
          state: h.isSelf
            ? MemberState.MEMBER_STATE_SELF
            : h.up
              ? MemberState.MEMBER_STATE_UP
              : MemberState.MEMBER_STATE_DOWN,
          ownership: own.get(h.name) ?? 0,
          incarnation: h.incarnation,
        };
      }),
      replicationFactor: cfg.replicationFactor,
      readQuorum: cfg.readQuorum,
      writeQuorum: cfg.writeQuorum,
      vnodes: cfg.vnodes,
      ringHash: ring?.ringHash ?? '',
      postgresReachable: this.pg?.reachable ?? false,
      legacyApiReachable: this.legacy?.reachable ?? false,
      hintsPending: this.hints.total,
      draining: this.draining,
      warmup: this.warmupInfo(),
    };
  }

  private warmupInfo(): WarmupReport | undefined {
    const r = this.warmup?.report;
    if (r === undefined) return undefined;
    const { keys, bytes, durationMs, source, stopped } = r;
    return { keys, bytes, durationMs, source, stopped };
  }

  private async drain(req: DrainRequest): Promise<DrainResponse> {
    this.draining = true;
    const r = await this.handoff.drain(this.membership.ring, req.leaving);
    // This node now places no key on itself: its own coordinator writes to the remaining owners.
    this.membership.reapply();
    return { keysStreamed: r.streamed, keysFailed: r.failed };
  }

  private digest(keys: readonly string[]): DigestResponse {
    const entries: DigestResponse['entries'] = [];
    if (keys.length === 0) {
      for (const [key, e] of this.store.entries())
        entries.push({ key, version: e.version, tombstone: e.tombstone });
    } else
      for (const key of keys) {
        const e = this.store.peek(key);
        if (e !== undefined) entries.push({ key, version: e.version, tombstone: e.tombstone });
      }
    return { member: this.cfg.nodeName, incarnation: this.incarnation, entries };
  }
}

function shutdownGrpc(server: Server | undefined, timeoutMs: number): Promise<void> {
  if (server === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
