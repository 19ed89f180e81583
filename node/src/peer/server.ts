// The server side of the replication stream: applies batched operations to
// this node's replica and answers in batched frames. Reads, writes and pings
// are synchronous on the memory store, so one incoming frame gets one
// answer frame; legacy fetches finish later and go out in frames of their own.
import type { ServerDuplexStream, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import {
  PeerOpKind,
  PeerStatus,
  type DigestRequest,
  type DigestResponse,
  type Hello,
  type HotRequest,
  type HotResponse,
  type PeerRequestFrame,
  type PeerResponseFrame,
  type PeerResult,
  type PeerOp,
  type PeerServiceServer,
} from '../gen/kvring/v1/peer.js';
import { result, type LocalReplica } from '../cluster/local-replica.js';
import type { RingView } from '../cluster/ring-view.js';
import type { Logger } from '../log.js';
import { kindName } from './connection.js';
import {
  SpanKind,
  contextFromFrame,
  endWith,
  startSpanUnder,
  tracingOn,
  withSpan,
  type Span,
} from '../tracing/tracer.js';
import { PEER_PROTOCOL_VERSION } from './protocol.js';

const EMPTY = Buffer.alloc(0);

export interface PeerServerDeps {
  readonly selfName: string;
  readonly replica: LocalReplica;
  /** This node's ring view, told to the peer in a Hello whenever it changes. */
  readonly view: RingView;
  readonly maxKeyBytes: number;
  readonly log: Logger;
  /** A peer that dialled this node introduced itself (its name, incarnation and where it is now). */
  onHello(hello: Hello): void;
  /** Read-through as the key's primary (coalesced per key). */
  legacyFetch(key: string): Promise<PeerResult>;
  digest(keys: readonly string[]): DigestResponse;
  /** A peer opened a replication stream to this node (its first frame's Hello). */
  onPeerHello?(member: string): void;
  /** This node's hot keys for a peer's warm-up (cluster/hot-keys.ts). */
  hot(req: HotRequest): HotResponse;
}

export function peerService(deps: PeerServerDeps): PeerServiceServer {
  return {
    exchange(call: ServerDuplexStream<PeerRequestFrame, PeerResponseFrame>): void {
      new StreamHandler(call, deps).start();
    },
    digest(
      call: ServerUnaryCall<DigestRequest, DigestResponse>,
      callback: sendUnaryData<DigestResponse>,
    ): void {
      callback(null, deps.digest(call.request.keys));
    },
    hot(call: ServerUnaryCall<HotRequest, HotResponse>, callback: sendUnaryData<HotResponse>): void {
      callback(null, deps.hot(call.request));
    },
  };
}

class StreamHandler {
  private late: PeerResult[] = [];
  private lateScheduled = false;
  private closed = false;
  /** The view generation the peer was last told about. */
  private toldGeneration = -1;

  constructor(
    private readonly call: ServerDuplexStream<PeerRequestFrame, PeerResponseFrame>,
    private readonly deps: PeerServerDeps,
  ) {}

  start(): void {
    const { call } = this;
    call.write({ hello: this.hello(), results: [] });
    call.on('data', (frame: PeerRequestFrame) => this.onFrame(frame));
    call.on('error', () => this.close());
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('cancelled', () => this.close());
  }

  private close(): void {
    this.closed = true;
  }

  /** A Hello when the peer has not heard of this view state yet (the first frame always). */
  private hello(): Hello | undefined {
    const { view, selfName, replica } = this.deps;
    if (view.generation === this.toldGeneration) return undefined;
    this.toldGeneration = view.generation;
    // The dialling side announces its address; this side was reached, so it has nothing to add.
    return {
      member: selfName,
      incarnation: replica.incarnation,
      ...view.status(),
      address: '',
      protocolVersion: PEER_PROTOCOL_VERSION,
    };
  }

  private onFrame(frame: PeerRequestFrame): void {
    if (frame.hello !== undefined) {
      this.deps.onHello(frame.hello);
      this.deps.onPeerHello?.(frame.hello.member);
    }
    const results: PeerResult[] = [];
    const traced = tracingOn();
    for (const o of frame.ops) {
      if (traced && o.traceContext !== '') this.applyTraced(o, results);
      else this.apply(o, results);
    }
    if (results.length > 0 && !this.closed) this.call.write({ hello: this.hello(), results });
  }

  /** Applies one operation; its result goes to `results`, or later for legacy fetches. */
  private apply(o: PeerOp, results: PeerResult[]): void {
    const { replica, maxKeyBytes } = this.deps;
    if (o.kind !== PeerOpKind.PEER_OP_KIND_PING && (o.key.length === 0 || o.key.length > maxKeyBytes * 4)) {
      results.push(result(o.id, PeerStatus.PEER_STATUS_ERROR, false, EMPTY, 0, false, 0, false, 'bad key'));
      return;
    }
    switch (o.kind) {
      case PeerOpKind.PEER_OP_KIND_READ:
        results.push(replica.read(o.id, o.key));
        break;
      case PeerOpKind.PEER_OP_KIND_WRITE:
      case PeerOpKind.PEER_OP_KIND_EXPIRE:
        results.push(replica.write(o.id, o, o.incarnation, o.kind === PeerOpKind.PEER_OP_KIND_EXPIRE));
        break;
      case PeerOpKind.PEER_OP_KIND_PING:
        results.push(result(o.id, PeerStatus.PEER_STATUS_OK, false, EMPTY, 0, false, 0, false, ''));
        break;
      case PeerOpKind.PEER_OP_KIND_LEGACY_FETCH:
        this.fetchLater(o.id, o.key);
        break;
      default:
        results.push(
          result(o.id, PeerStatus.PEER_STATUS_ERROR, false, EMPTY, 0, false, 0, false, 'unknown op'),
        );
    }
  }

  /**
   * `apply` inside a span that joins the sender's trace (PeerOp.trace_context).
   * Replica reads and writes are synchronous; a legacy fetch's span lasts
   * until its read-through settles and is the context that read-through runs in.
   */
  private applyTraced(o: PeerOp, results: PeerResult[]): void {
    const span = startSpanUnder(
      contextFromFrame(o.traceContext),
      `replica ${opName(o.kind)}`,
      SpanKind.SERVER,
      {
        'kvring.key': o.key,
        'kvring.member': this.deps.selfName,
        'kvring.version': o.version,
      },
    );
    if (o.kind === PeerOpKind.PEER_OP_KIND_LEGACY_FETCH) {
      this.fetchLater(o.id, o.key, span);
      return;
    }
    const before = results.length;
    this.apply(o, results);
    const r = results[before];
    if (r !== undefined) {
      span.setAttribute('kvring.peer.status', PeerStatus[r.status]);
      if (o.kind === PeerOpKind.PEER_OP_KIND_WRITE) span.setAttribute('kvring.applied', r.applied);
    }
    span.end();
  }

  private fetchLater(id: number, key: string, span?: Span): void {
    const run = (): Promise<PeerResult> => this.deps.legacyFetch(key);
    const fetched = span === undefined ? run() : endWith(span, withSpan(span, run));
    fetched.then(
      (r) => this.pushLate({ ...r, id }),
      (err: Error & { code?: unknown }) =>
        this.pushLate({
          ...result(id, PeerStatus.PEER_STATUS_ERROR, false, EMPTY, 0, false, 0, false, err.message),
          code: typeof err.code === 'string' ? 14 : 13,
        }),
    );
  }

  private pushLate(r: PeerResult): void {
    this.late.push(r);
    if (this.lateScheduled) return;
    this.lateScheduled = true;
    setImmediate(() => {
      this.lateScheduled = false;
      const results = this.late;
      this.late = [];
      if (!this.closed) this.call.write({ hello: this.hello(), results });
    });
  }
}

function opName(k: PeerOpKind): string {
  return k === PeerOpKind.PEER_OP_KIND_EXPIRE ? 'expire' : kindName(k);
}
