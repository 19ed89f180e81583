// One destination of the pipelined client: a Pipeline stream to one node,
// the operations waiting to go out in the next frame, and those sent and
// not yet answered. A frame goes out when it is full (operations or bytes)
// or when the turn that queued its operations ends. A stream that breaks
// fails what it had sent (a write among them is in doubt: the node may have
// applied it) and the next operation opens a new stream.
import type { ClientDuplexStream, Metadata, ServiceError } from '@grpc/grpc-js';
import type {
  KVServiceClient,
  PipelineOp,
  PipelineRequest,
  PipelineResponse,
  PipelineResult,
} from './gen/kvring/v1/kvring.js';

/** gRPC status codes this module produces. */
export const Code = { CANCELLED: 1, DEADLINE_EXCEEDED: 4, UNAVAILABLE: 14 } as const;

/** An operation from the moment it is issued until it settles. */
export interface PendingOp {
  readonly wire: PipelineOp;
  /** Its share of a frame's encoded size (an estimate: key + value + framing). */
  readonly bytes: number;
  readonly write: boolean;
  /** Set once sent on a stream: from then on a write may have been applied. */
  sent: boolean;
  done: boolean;
  /** Called once, with the node's answer or a failure (code, reason, message). */
  settle(result: PipelineResult | StreamFailure): void;
}

/** Why an operation failed without a per-operation answer from the node. */
export interface StreamFailure {
  readonly code: number;
  readonly message: string;
  readonly address: string;
}

export interface FrameLimits {
  readonly maxOpsPerFrame: number;
  readonly maxFrameBytes: number;
}

/** How a queued frame is flushed when the turn ends: a microtask or setImmediate. */
export type FlushMode = 'microtask' | 'immediate';

export class Destination {
  private call: ClientDuplexStream<PipelineRequest, PipelineResponse> | undefined;
  private readonly sentOps = new Map<number, PendingOp>();
  private queue: PendingOp[] = [];
  private queueBytes = 0;
  private flushScheduled = false;
  /** The stream's write buffer is full: frames wait for 'drain'. */
  private blocked = false;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly client: KVServiceClient,
    private readonly md: Metadata,
    private readonly limits: FrameLimits,
    private readonly flushMode: FlushMode,
  ) {}

  submit(op: PendingOp): void {
    if (this.closed) {
      op.settle({ code: Code.CANCELLED, message: 'the client was closed', address: this.address });
      return;
    }
    // An operation that would overflow the frame closes it first.
    if (this.queue.length > 0 && this.queueBytes + op.bytes > this.limits.maxFrameBytes) this.flush();
    this.queue.push(op);
    this.queueBytes += op.bytes;
    if (this.queue.length >= this.limits.maxOpsPerFrame) this.flush();
    else this.scheduleFlush();
  }

  /** Forgets an operation that settled elsewhere (its deadline): a late answer is dropped. */
  forget(op: PendingOp): void {
    this.sentOps.delete(op.wire.id);
  }

  close(): void {
    this.closed = true;
    const call = this.call;
    this.call = undefined;
    this.failAll({ code: Code.CANCELLED, message: 'the client was closed', address: this.address }, true);
    call?.cancel();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Same turn: a lone operation goes out at once; every operation issued
    // before the flush runs rides in the same frame.
    if (this.flushMode === 'microtask') queueMicrotask(() => this.onScheduledFlush());
    else setImmediate(() => this.onScheduledFlush());
  }

  private onScheduledFlush(): void {
    this.flushScheduled = false;
    this.flush();
  }

  /** Sends queued operations in frames within the limits, until the queue is empty or the stream is full. */
  private flush(): void {
    while (this.queue.length > 0 && !this.blocked && !this.closed) {
      const ops: PipelineOp[] = [];
      let bytes = 0;
      let taken = 0;
      for (const op of this.queue) {
        if (
          ops.length > 0 &&
          (ops.length >= this.limits.maxOpsPerFrame || bytes + op.bytes > this.limits.maxFrameBytes)
        )
          break;
        taken++;
        if (op.done) continue; // its deadline passed while it waited
        ops.push(op.wire);
        bytes += op.bytes;
        op.sent = true;
        this.sentOps.set(op.wire.id, op);
      }
      const rest = this.queue.slice(taken);
      this.queue = rest;
      this.queueBytes = rest.reduce((n, op) => n + op.bytes, 0);
      if (ops.length === 0) continue;
      if (!this.stream().write({ ops })) this.blocked = true;
    }
  }

  private stream(): ClientDuplexStream<PipelineRequest, PipelineResponse> {
    if (this.call !== undefined) return this.call;
    const call = this.client.pipeline(this.md);
    this.call = call;
    call.on('data', (res: PipelineResponse) => this.onResponse(res));
    call.on('drain', () => {
      if (this.call !== call) return;
      this.blocked = false;
      this.flush();
    });
    call.on('error', (err: ServiceError) =>
      this.onBroken(call, { code: err.code, message: err.details || err.message, address: this.address }),
    );
    call.on('end', () =>
      this.onBroken(call, {
        code: Code.UNAVAILABLE,
        message: 'the node closed the pipeline stream',
        address: this.address,
      }),
    );
    return call;
  }

  private onResponse(res: PipelineResponse): void {
    for (const r of res.results) {
      const op = this.sentOps.get(r.id);
      if (op === undefined) continue; // settled already (deadline)
      this.sentOps.delete(r.id);
      op.settle(r);
    }
  }

  private onBroken(call: ClientDuplexStream<PipelineRequest, PipelineResponse>, why: StreamFailure): void {
    if (this.call !== call) return; // an older stream, already replaced
    this.call = undefined;
    this.blocked = false;
    // Operations sent on the broken stream fail (never resent: a write may
    // have been applied); queued ones go out on the next stream.
    this.failAll(why, false);
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private failAll(why: StreamFailure, queuedToo: boolean): void {
    const failed = [...this.sentOps.values(), ...(queuedToo ? this.queue : [])];
    this.sentOps.clear();
    if (queuedToo) {
      this.queue = [];
      this.queueBytes = 0;
    }
    for (const op of failed) op.settle(why);
  }
}
