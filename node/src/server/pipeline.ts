// The Pipeline stream of kvring.v1.KVService: many tagged operations per
// frame in both directions. Each operation goes through the coordinator
// exactly as the unary Get/Set/Delete would (same limits, same error codes,
// same metrics under method "Pipeline.Get" etc.), concurrently, and its
// result is sent as soon as it is known: results that finish in the same
// event-loop turn share one response frame. A stream bounds the operations
// it runs at once; past the bound it stops reading, so a client faster than
// the node is slowed by HTTP/2 flow control instead of growing this
// process's memory.
import { status, type ServerDuplexStream, type handleBidiStreamingCall } from '@grpc/grpc-js';
import {
  KVServiceService,
  PipelineRequest,
  type PipelineOp,
  type PipelineResponse,
  type PipelineResult,
} from '../gen/kvring/v1/kvring.js';
import type { Coordinator } from '../cluster/coordinator.js';
import {
  InvalidArgumentError,
  KvError,
  LimitExceededError,
  ShuttingDownError,
  errorCodeOf,
  grpcStatusOf,
} from '../errors.js';
import { toServiceError } from './status-details.js';
import { inServerSpan, tracingOn } from '../tracing/tracer.js';
import { methodMetrics, rpcSpanOf, type MethodMetrics, type UnaryContext } from './unary.js';
import { getResponseOf } from './wire.js';

export interface PipelineLimits {
  /** Most operations in one request frame (KVRING_MAX_BATCH). */
  readonly maxBatch: number;
  /** Largest encoded request frame (KVRING_MAX_FRAME_BYTES). */
  readonly maxFrameBytes: number;
}

export interface PipelineDeps {
  readonly coordinator: Pick<Coordinator, 'get' | 'set' | 'delete'>;
  readonly limits: PipelineLimits;
  /** Most operations one stream runs at once before it stops reading (default 1024). */
  readonly maxInFlight?: number;
  /** Aborted when the node stops: streams finish what they run, then close UNAVAILABLE. */
  readonly stopping?: AbortSignal;
}

const DEFAULT_MAX_IN_FLIGHT = 1024;

// The encoded size of each request frame, noted as it is decoded: the
// decoded message no longer says how many bytes it took on the wire.
const frameBytes = new WeakMap<PipelineRequest, number>();

/**
 * KVService's definition with the Pipeline request decoder noting each
 * frame's encoded size (for KVRING_MAX_FRAME_BYTES). Register the service
 * with this definition, not the generated one.
 */
export const kvServiceDefinition: typeof KVServiceService = {
  ...KVServiceService,
  pipeline: {
    ...KVServiceService.pipeline,
    requestDeserialize: (bytes: Buffer): PipelineRequest => {
      const frame = PipelineRequest.decode(bytes);
      frameBytes.set(frame, bytes.length);
      return frame;
    },
  },
};

type Kind = 'get' | 'set' | 'delete';

/** Each operation of a stream is a server span of its own, under the stream's traceparent. */
const OP_SPANS: Record<Kind, ReturnType<typeof rpcSpanOf>> = {
  get: rpcSpanOf('Pipeline.Get'),
  set: rpcSpanOf('Pipeline.Set'),
  delete: rpcSpanOf('Pipeline.Delete'),
};

export function pipelineHandler(
  ctx: UnaryContext,
  deps: PipelineDeps,
): handleBidiStreamingCall<PipelineRequest, PipelineResponse> {
  const stream = methodMetrics(ctx.metrics, 'Pipeline');
  const perKind: Record<Kind, MethodMetrics> = {
    get: methodMetrics(ctx.metrics, 'Pipeline.Get'),
    set: methodMetrics(ctx.metrics, 'Pipeline.Set'),
    delete: methodMetrics(ctx.metrics, 'Pipeline.Delete'),
  };
  return (call) => {
    const denied = ctx.authorize?.(call);
    if (denied !== undefined) {
      stream.count(grpcStatusOf(denied));
      call.emit('error', toServiceError(denied));
      return;
    }
    new PipelineStream(call, deps, perKind, ctx).start();
  };
}

/** Why a whole frame is refused (each of its operations gets this error), or undefined. */
function frameLimitError(frame: PipelineRequest, limits: PipelineLimits): LimitExceededError | undefined {
  if (frame.ops.length > limits.maxBatch)
    return new LimitExceededError(
      'frame',
      limits.maxBatch,
      `frame: ${frame.ops.length} operations exceeds the limit of ${limits.maxBatch} operations per frame (KVRING_MAX_BATCH)`,
    );
  const bytes = frameBytes.get(frame) ?? 0;
  if (bytes > limits.maxFrameBytes)
    return new LimitExceededError(
      'frame',
      limits.maxFrameBytes,
      `frame: ${bytes} bytes exceeds the frame limit of ${limits.maxFrameBytes} bytes (KVRING_MAX_FRAME_BYTES)`,
    );
  return undefined;
}

function kindOf(op: PipelineOp): Kind | undefined {
  if (op.get !== undefined) return 'get';
  if (op.set !== undefined) return 'set';
  if (op.delete !== undefined) return 'delete';
  return undefined;
}

/** A failure as the unary call would report it: status code, stable reason (ErrorInfo), message. */
function failure(id: number, err: Error): PipelineResult {
  const metadata = err instanceof KvError ? err.details() : {};
  return { id, code: grpcStatusOf(err), reason: errorCodeOf(err), message: err.message, metadata };
}

async function execute(c: PipelineDeps['coordinator'], op: PipelineOp): Promise<PipelineResult> {
  const ok = { id: op.id, code: status.OK, reason: '', message: '', metadata: {} };
  if (op.get !== undefined) return { ...ok, get: getResponseOf(await c.get(op.get.key)) };
  // Conditions (expected version, idempotency key) as the unary calls take them.
  if (op.set !== undefined) {
    const { key, value, ttlMs, expectedVersion, idempotencyKey } = op.set;
    return { ...ok, set: { version: await c.set(key, value, ttlMs, { expectedVersion, idempotencyKey }) } };
  }
  if (op.delete !== undefined) {
    const { key, expectedVersion } = op.delete;
    return { ...ok, delete: { version: await c.delete(key, { expectedVersion }) } };
  }
  throw new InvalidArgumentError(`op ${op.id}: one of get, set, delete must be set`);
}

class PipelineStream {
  private inFlight = 0;
  private out: PipelineResult[] = [];
  private flushScheduled = false;
  private writeBlocked = false;
  private paused = false;
  /** The client half-closed: end once every operation is answered. */
  private clientDone = false;
  /** Cancelled or failed: nothing more can be written. */
  private gone = false;
  private readonly maxInFlight: number;

  constructor(
    private readonly call: ServerDuplexStream<PipelineRequest, PipelineResponse>,
    private readonly deps: PipelineDeps,
    private readonly metrics: Record<Kind, MethodMetrics>,
    private readonly ctx: UnaryContext,
  ) {
    this.maxInFlight = deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  start(): void {
    const { call } = this;
    call.on('data', (frame: PipelineRequest) => this.onFrame(frame));
    call.on('end', () => {
      this.clientDone = true;
      this.maybeEnd();
    });
    call.on('cancelled', () => this.onGone());
    call.on('error', () => this.onGone());
    call.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
    const stopping = this.deps.stopping;
    if (stopping?.aborted) this.onStopping();
    else stopping?.addEventListener('abort', () => this.onStopping(), { once: true });
  }

  private onFrame(frame: PipelineRequest): void {
    if (this.gone) return;
    const refused = frameLimitError(frame, this.deps.limits);
    for (const op of frame.ops) {
      if (refused !== undefined) this.answer(failure(op.id, refused));
      else this.run(op);
    }
    this.updateFlow();
  }

  private run(op: PipelineOp): void {
    const kind = kindOf(op);
    const start = performance.now();
    this.inFlight++;
    const run = (): Promise<PipelineResult> => execute(this.deps.coordinator, op);
    const span = kind === undefined ? undefined : OP_SPANS[kind];
    void (
      span !== undefined && tracingOn()
        ? inServerSpan(this.call.metadata, span.spanName, span.attributes, run, grpcStatusOf)
        : run()
    )
      .catch((err: Error) => {
        const result = failure(op.id, err);
        if (result.code === Number(status.INTERNAL))
          this.ctx.log.error({ err, method: 'Pipeline', kind }, 'pipeline operation failed');
        return result;
      })
      .then((result) => {
        this.inFlight--;
        if (kind !== undefined) {
          this.metrics[kind].observe(start);
          this.metrics[kind].count(result.code);
        }
        this.answer(result);
        this.updateFlow();
      });
  }

  private answer(result: PipelineResult): void {
    if (this.gone) return;
    this.out.push(result);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Results that finish in this turn (a frame's cache hits, a group
    // commit's writes) share one response frame.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.gone || this.out.length === 0) return;
    const results = this.out;
    this.out = [];
    if (!this.call.write({ results })) this.writeBlocked = true;
    this.updateFlow();
    this.maybeEnd();
  }

  /** Reading stops while too many operations run or the client reads too slowly. */
  private updateFlow(): void {
    const hold = this.inFlight >= this.maxInFlight || this.writeBlocked;
    if (hold && !this.paused) {
      this.paused = true;
      this.call.pause();
    } else if (!hold && this.paused) {
      this.paused = false;
      this.call.resume();
    }
  }

  private maybeEnd(): void {
    if (this.gone || this.inFlight > 0 || this.flushScheduled) return;
    if (this.clientDone) {
      this.gone = true;
      this.call.end();
    } else if (this.deps.stopping?.aborted) {
      this.gone = true;
      this.call.emit(
        'error',
        toServiceError(new ShuttingDownError('node is shutting down; retry on another node')),
      );
    }
  }

  private onStopping(): void {
    // New frames are refused by the coordinator (SHUTTING_DOWN); once what
    // runs is answered, the stream closes so the server can stop.
    this.maybeEnd();
  }

  private onGone(): void {
    this.gone = true;
    this.out = [];
  }
}
