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
  type PeerRequestFrame,
  type PeerResponseFrame,
  type PeerResult,
  type PeerServiceServer,
} from '../gen/kvring/v1/peer.js';
import { result, type LocalReplica } from '../cluster/local-replica.js';
import type { RingView } from '../cluster/ring-view.js';
import type { Logger } from '../log.js';
import { PEER_PROTOCOL_VERSION } from './protocol.js';

const EMPTY = Buffer.alloc(0);

export interface PeerServerDeps {
  readonly selfName: string;
  readonly replica: LocalReplica;
  /** This node's ring view, told to the peer in a Hello whenever it changes. */
  readonly view: RingView;
  readonly maxKeyBytes: number;
  readonly log: Logger;
  /** Read-through as the key's primary (coalesced per key). */
  legacyFetch(key: string): Promise<PeerResult>;
  digest(keys: readonly string[]): DigestResponse;
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
    return {
      member: selfName,
      incarnation: replica.incarnation,
      ...view.status(),
      protocolVersion: PEER_PROTOCOL_VERSION,
    };
  }

  private onFrame(frame: PeerRequestFrame): void {
    const { replica, maxKeyBytes } = this.deps;
    const results: PeerResult[] = [];
    for (const o of frame.ops) {
      if (o.kind !== PeerOpKind.PEER_OP_KIND_PING && (o.key.length === 0 || o.key.length > maxKeyBytes * 4)) {
        results.push(result(o.id, PeerStatus.PEER_STATUS_ERROR, false, EMPTY, 0, false, 0, false, 'bad key'));
        continue;
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
    if (results.length > 0 && !this.closed) this.call.write({ hello: this.hello(), results });
  }

  private fetchLater(id: number, key: string): void {
    this.deps.legacyFetch(key).then(
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
