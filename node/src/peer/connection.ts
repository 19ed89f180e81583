// The client side of the replication stream to one peer. Operations queued
// in one turn of the event loop travel in one frame; results come back
// batched and are matched by id. The same stream carries pings, so it is
// also this member's failure detector: a peer silent for failureTimeoutMs
// is marked down (a paused process keeps its TCP connection open, so a
// broken stream alone would not notice it).
import {
  Metadata,
  credentials as grpcCredentials,
  type ChannelCredentials,
  type ClientDuplexStream,
} from '@grpc/grpc-js';
import {
  PeerOpKind,
  PeerServiceClient,
  PeerStatus,
  WriteCause,
  type HotRequest,
  type HotResponse,
  type PeerOp,
  type PeerRequestFrame,
  type PeerResponseFrame,
  type PeerResult,
} from '../gen/kvring/v1/peer.js';
import { PeerUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { SpanKind, frameTraceContext, inChildSpan, recordingSpan } from '../tracing/tracer.js';
import type { NodeMetrics } from '../metrics.js';
import type { ReplicaHandle, WriteRequest } from '../cluster/replica.js';
import {
  MIN_PEER_PROTOCOL_VERSION,
  PEER_PROTOCOL_VERSION,
  peerSupports,
  type PeerFeature,
} from './protocol.js';

const EMPTY = Buffer.alloc(0);
/** Keeps one frame well under the message size limit and the head-of-line delay short. */
const MAX_FRAME_OPS = 256;
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
export const PEER_CHANNEL_OPTIONS = {
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  // Not served; its per-stream bookkeeping is work for nothing.
  'grpc.enable_channelz': 0,
  // A channel of its own per connection: a fresh connection to a restarted
  // peer (membership.ts) must not inherit the reconnect backoff of a shared
  // subchannel that kept failing while the peer was down.
  'grpc.use_local_subchannel_pool': 1,
};

interface Pending {
  resolve: (r: PeerResult) => void;
  reject: (e: Error) => void;
  deadline: number;
  kind: PeerOpKind;
}

/** 'view': the peer told a new ring view, handoff state or that it leaves. */
export type PeerChange = 'up' | 'down' | 'restarted' | 'view';

export interface PeerConnectionOptions {
  readonly selfName: string;
  readonly selfIncarnation: string;
  /** Where this node's peer port is reachable now ('' = nothing to announce): see Hello.address. */
  readonly selfAddress?: string;
  readonly credentials?: ChannelCredentials;
  readonly peerTimeoutMs: number;
  readonly failureTimeoutMs: number;
  /** Deadline of a legacy fetch, which waits for the legacy API and PostgreSQL. */
  readonly slowOpTimeoutMs: number;
  readonly log: Logger;
  readonly metrics?: NodeMetrics;
  /** Called when the failure detector changes its verdict or the peer restarted. */
  readonly onState?: (conn: PeerConnection, change: PeerChange) => void;
  /** The oldest peer protocol accepted (default MIN_PEER_PROTOCOL_VERSION; tests lower or raise it). */
  readonly minProtocolVersion?: number;
}

export class PeerConnection implements ReplicaHandle {
  readonly isSelf = false;
  up = false;
  incarnation = '';
  /** The peer's ring view as it last told it (ring-view.ts): '' until its first Hello. */
  view = '';
  handedOff = false;
  leaving = false;
  /** The peer protocol the peer told in its last Hello (0: an older release that tells none). */
  protocolVersion = 0;
  /** False while the peer speaks a protocol older than this build accepts: it is never counted up. */
  compatible = true;
  private readonly client: PeerServiceClient;
  private call: ClientDuplexStream<PeerRequestFrame, PeerResponseFrame> | undefined;
  private outbox: PeerOp[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private flushScheduled = false;
  private lastHeard = 0;
  private lastPing = 0;
  private reconnectDelay = 100;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  private toldProtocol = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    readonly name: string,
    public address: string,
    private readonly opts: PeerConnectionOptions,
  ) {
    this.client = new PeerServiceClient(
      address,
      opts.credentials ?? grpcCredentials.createInsecure(),
      PEER_CHANNEL_OPTIONS,
    );
    const tick = Math.max(20, Math.min(100, Math.floor(opts.failureTimeoutMs / 8)));
    this.ticker = setInterval(() => this.tick(), tick);
    this.ticker.unref();
    this.open();
  }

  read(key: string): Promise<PeerResult> {
    return this.send(
      op(PeerOpKind.PEER_OP_KIND_READ, key, EMPTY, 0, false, 0, '', WriteCause.WRITE_CAUSE_UNSPECIFIED),
    );
  }

  write(w: WriteRequest, incarnation: string, cause: WriteCause): Promise<PeerResult> {
    return this.send(
      op(
        w.expired === true ? PeerOpKind.PEER_OP_KIND_EXPIRE : PeerOpKind.PEER_OP_KIND_WRITE,
        w.key,
        w.value ?? EMPTY,
        w.version,
        w.tombstone,
        w.ttlMs,
        incarnation,
        cause,
      ),
    );
  }

  legacyFetch(key: string): Promise<PeerResult> {
    return this.send(
      op(
        PeerOpKind.PEER_OP_KIND_LEGACY_FETCH,
        key,
        EMPTY,
        0,
        false,
        0,
        '',
        WriteCause.WRITE_CAUSE_UNSPECIFIED,
      ),
    );
  }

  /** The peer's hot keys among those `req.member` replicates (warmup.ts); a unary call beside the stream. */
  hot(req: HotRequest, timeoutMs: number): Promise<HotResponse> {
    return new Promise<HotResponse>((resolve, reject) => {
      this.client.hot(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(new PeerUnavailableError(`peer ${this.name}: ${err.message}`)) : resolve(res),
      );
    });
  }

  /** Between attempts: the last stream broke and the next one waits out the backoff. */
  get backingOff(): boolean {
    return this.call === undefined && !this.closed;
  }

  /** Whether the peer understands `feature` (protocol.ts): a sender checks before using one. */
  supports(feature: PeerFeature): boolean {
    return peerSupports(this.protocolVersion, feature);
  }

  /** Pending operations plus queued ones: the coordinator's view of this peer's backlog. */
  get inflight(): number {
    return this.pending.size + this.outbox.length;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.call?.end();
    this.call = undefined;
    this.failAll(new PeerUnavailableError(`peer ${this.name}: connection closed`));
    this.client.close();
  }

  private send(o: PeerOp): Promise<PeerResult> {
    if (recordingSpan() !== undefined) return this.sendTraced(o);
    return this.sendNow(o);
  }

  /** A client span per operation of a sampled trace, its context carried in the frame. */
  private sendTraced(o: PeerOp): Promise<PeerResult> {
    const attributes = { 'kvring.peer': this.name, 'kvring.key': o.key, 'server.address': this.address };
    return inChildSpan(
      `peer ${kindName(o.kind)}`,
      attributes,
      () => {
        o.traceContext = frameTraceContext();
        return this.sendNow(o);
      },
      SpanKind.CLIENT,
    );
  }

  private sendNow(o: PeerOp): Promise<PeerResult> {
    if (this.call === undefined || this.closed)
      return Promise.reject(new PeerUnavailableError(`peer ${this.name} (${this.address}) is not connected`));
    o.id = this.nextId;
    this.nextId = this.nextId >= 0xfffffff0 ? 1 : this.nextId + 1;
    const timeout =
      o.kind === PeerOpKind.PEER_OP_KIND_LEGACY_FETCH ? this.opts.slowOpTimeoutMs : this.opts.peerTimeoutMs;
    return new Promise<PeerResult>((resolve, reject) => {
      this.pending.set(o.id, { resolve, reject, deadline: performance.now() + timeout, kind: o.kind });
      this.outbox.push(o);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushBound);
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const call = this.call;
    if (call === undefined) return;
    while (this.outbox.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.outbox.length && n < MAX_FRAME_OPS && bytes < MAX_FRAME_BYTES) {
        bytes += this.outbox[n]!.value.length + this.outbox[n]!.key.length + 32;
        n++;
      }
      const ops = n === this.outbox.length ? this.outbox : this.outbox.slice(0, n);
      this.outbox = n === this.outbox.length ? [] : this.outbox.slice(n);
      this.opts.metrics?.peerFrameOps.observe(ops.length);
      call.write({ hello: undefined, ops });
    }
  }

  private open(): void {
    if (this.closed) return;
    const call = this.client.exchange();
    this.call = call;
    call.write({
      hello: {
        member: this.opts.selfName,
        incarnation: this.opts.selfIncarnation,
        view: '',
        handedOff: false,
        leaving: false,
        address: this.opts.selfAddress ?? '',
        protocolVersion: PEER_PROTOCOL_VERSION,
      },
      ops: [],
    });
    call.on('data', (frame: PeerResponseFrame) => this.onFrame(frame));
    call.on('error', (err: Error) => this.onBroken(call, err));
    call.on('end', () => this.onBroken(call, new Error('stream ended')));
  }

  private onFrame(frame: PeerResponseFrame): void {
    this.lastHeard = performance.now();
    if (frame.hello !== undefined) {
      const prev = this.incarnation;
      this.incarnation = frame.hello.incarnation;
      this.reconnectDelay = 100;
      if (prev !== '' && prev !== this.incarnation) this.opts.onState?.(this, 'restarted');
      const h = frame.hello;
      this.onProtocol(h.protocolVersion);
      if (h.view !== this.view || h.handedOff !== this.handedOff || h.leaving !== this.leaving) {
        this.view = h.view;
        this.handedOff = h.handedOff;
        this.leaving = h.leaving;
        this.opts.onState?.(this, 'view');
      }
    }
    if (!this.up && this.incarnation !== '' && this.compatible) this.setUp(true);
    for (const r of frame.results) {
      const p = this.pending.get(r.id);
      if (p === undefined) continue; // timed out already
      this.pending.delete(r.id);
      this.opts.metrics?.peerOps.inc({
        kind: kindName(p.kind),
        result: r.status === PeerStatus.PEER_STATUS_OK ? 'ok' : 'rejected',
      });
      p.resolve(r);
    }
  }

  /** The peer's version from its Hello: recorded, shown, and too old a peer is kept down. */
  private onProtocol(version: number): void {
    const min = this.opts.minProtocolVersion ?? MIN_PEER_PROTOCOL_VERSION;
    const compatible = version >= min;
    if (version === this.protocolVersion && compatible === this.compatible && this.toldProtocol) return;
    this.toldProtocol = true;
    this.protocolVersion = version;
    this.compatible = compatible;
    this.opts.metrics?.peerProtocolVersion.set({ member: this.name }, version);
    const fields = { peer: this.name, peerProtocol: version, ownProtocol: PEER_PROTOCOL_VERSION };
    if (!compatible) {
      this.opts.log.error(
        { ...fields, minProtocol: min },
        'peer speaks a protocol older than this node accepts: it is kept down (upgrade it one release at a time)',
      );
      this.setUp(false);
    } else if (version !== PEER_PROTOCOL_VERSION)
      this.opts.log.info(
        fields,
        'peer speaks another protocol version (mixed versions): features limited to both',
      );
  }

  private onBroken(call: ClientDuplexStream<PeerRequestFrame, PeerResponseFrame>, err: Error): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.opts.log.debug({ peer: this.name, err: err.message }, 'peer stream broke');
    this.failAll(new PeerUnavailableError(`peer ${this.name} (${this.address}): ${err.message}`));
    this.setUp(false);
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => this.open(), this.reconnectDelay);
    this.reconnectTimer.unref();
    this.reconnectDelay = Math.min(2_000, this.reconnectDelay * 2);
  }

  private tick(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(id);
      this.opts.metrics?.peerOps.inc({ kind: kindName(p.kind), result: 'timeout' });
      p.reject(new PeerUnavailableError(`peer ${this.name}: no answer within its deadline`));
    }
    if (this.call === undefined) return;
    if (this.up && now - this.lastHeard > this.opts.failureTimeoutMs) {
      this.opts.log.warn({ peer: this.name, silentMs: Math.round(now - this.lastHeard) }, 'peer marked down');
      this.setUp(false);
    }
    if (now - this.lastPing >= this.opts.failureTimeoutMs / 4) {
      this.lastPing = now;
      this.send(
        op(PeerOpKind.PEER_OP_KIND_PING, '', EMPTY, 0, false, 0, '', WriteCause.WRITE_CAUSE_UNSPECIFIED),
      ).catch(() => undefined);
    }
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.opts.onState?.(this, up ? 'up' : 'down');
  }

  private failAll(err: Error): void {
    this.outbox = [];
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

function op(
  kind: PeerOpKind,
  key: string,
  value: Buffer,
  version: number,
  tombstone: boolean,
  ttlMs: number,
  incarnation: string,
  cause: WriteCause,
): PeerOp {
  return { id: 0, kind, key, value, version, tombstone, ttlMs, incarnation, cause, traceContext: '' };
}

/** An operation kind's name in metrics and spans. */
export function kindName(k: PeerOpKind): string {
  switch (k) {
    case PeerOpKind.PEER_OP_KIND_READ:
      return 'read';
    case PeerOpKind.PEER_OP_KIND_WRITE:
      return 'write';
    case PeerOpKind.PEER_OP_KIND_PING:
      return 'ping';
    case PeerOpKind.PEER_OP_KIND_LEGACY_FETCH:
      return 'legacy_fetch';
    default:
      return 'other';
  }
}
