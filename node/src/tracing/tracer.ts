// The instrumentation's one door to OpenTelemetry. Every helper here first
// asks whether tracing is on (sdk.ts started the SDK) and, below a request's
// server span, whether that span records (was sampled): otherwise it calls
// straight through, so tracing off costs one boolean test per site, and an
// unsampled request makes no spans below its root.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';

export { SpanKind };
export type { Attributes, Span, SpanContext };

let on = false;
let tracer: Tracer = trace.getTracer('kvring-node');

/** Called once the SDK is registered (sdk.ts). */
export function enableTracing(): void {
  on = true;
  tracer = trace.getTracer('kvring-node');
}

export function tracingOn(): boolean {
  return on;
}

/** The active span when tracing is on and it records (was sampled), else undefined. */
export function recordingSpan(): Span | undefined {
  if (!on) return undefined;
  const span = trace.getActiveSpan();
  return span?.isRecording() === true ? span : undefined;
}

/** Marks a span failed with the error's message. */
export function failSpan(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** Ends `span` when `p` settles (failed when it rejects), passing the outcome on. */
export function endWith<T>(span: Span, p: Promise<T>): Promise<T> {
  return p.then(
    (v) => {
      span.end();
      return v;
    },
    (err: unknown) => {
      failSpan(span, err);
      span.end();
      throw err;
    },
  );
}

/** Runs `fn` in a child of the active recording span; only calls it when there is none. */
export function inChildSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (recordingSpan() === undefined) return fn();
  return tracer.startActiveSpan(name, { kind, attributes }, (span) => endWith(span, fn()));
}

/** Runs `fn` in a new root span (background work: hint replay); only calls it when tracing is off. */
export function inRootSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  if (!on) return fn();
  return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes, root: true }, (span) =>
    endWith(span, fn()),
  );
}

/**
 * Runs `fn` in a server span whose parent is the caller's `traceparent`
 * metadata (a new trace, sampled by OTEL_TRACES_SAMPLER, when absent). A
 * failure records `statusOf(err)` as rpc.grpc.status_code.
 */
export function inServerSpan<T>(
  md: MetadataLike,
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  statusOf: (err: unknown) => number,
): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { kind: SpanKind.SERVER, attributes },
    contextFromMetadata(md),
    (span) =>
      fn().then(
        (v) => {
          span.setAttribute('rpc.grpc.status_code', 0);
          span.end();
          return v;
        },
        (err: unknown) => {
          span.setAttribute('rpc.grpc.status_code', statusOf(err));
          failSpan(span, err);
          span.end();
          throw err;
        },
      ),
  );
}

/** Runs `fn` in a new span under `parent` (a root span when parent holds none). */
export function inSpanUnder<T>(
  parent: Context,
  name: string,
  opts: { kind: SpanKind; attributes: Attributes; links?: readonly SpanContext[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const links = opts.links?.map((c) => ({ context: c }));
  return tracer.startActiveSpan(name, { kind: opts.kind, attributes: opts.attributes, links }, parent, fn);
}

/** Runs `fn` with `span` active. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Starts a span under `parent` without making it active (for synchronous work). */
export function startSpanUnder(parent: Context, name: string, kind: SpanKind, attributes: Attributes): Span {
  return tracer.startSpan(name, { kind, attributes }, parent);
}

// --- W3C trace context in gRPC metadata and in peer frames -------------------

/** What grpc-js Metadata offers a propagator (structural, so the client package need not match). */
export interface MetadataLike {
  get(key: string): readonly (string | Buffer)[];
  getMap(): Record<string, unknown>;
}

const metadataGetter: TextMapGetter<MetadataLike> = {
  keys: (m) => Object.keys(m.getMap()),
  get: (m, key) => {
    const v = m.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

/** The caller's context from `traceparent`/`tracestate` metadata (the root context when absent). */
export function contextFromMetadata(md: MetadataLike): Context {
  return propagation.extract(ROOT_CONTEXT, md, metadataGetter);
}

interface W3cCarrier {
  traceparent?: string;
  tracestate?: string;
}

/**
 * The active context as a peer frame carries it (PeerOp.trace_context):
 * `traceparent[;tracestate]`. A traceparent never holds ';'.
 */
export function frameTraceContext(ctx: Context = context.active()): string {
  const carrier: W3cCarrier = {};
  propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) return '';
  return carrier.tracestate ? `${carrier.traceparent};${carrier.tracestate}` : carrier.traceparent;
}

/** The context a peer frame's trace_context names (the root context for ''). */
export function contextFromFrame(traceContext: string): Context {
  if (traceContext === '') return ROOT_CONTEXT;
  const at = traceContext.indexOf(';');
  const carrier: W3cCarrier =
    at < 0
      ? { traceparent: traceContext }
      : { traceparent: traceContext.slice(0, at), tracestate: traceContext.slice(at + 1) };
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** trace_id and span_id of the active span, for log lines (pino mixin). */
export function logIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const c = span.spanContext();
  return { trace_id: c.traceId, span_id: c.spanId };
}

/** The active recording span's trace id, for a histogram exemplar. */
export function exemplarTraceId(): string | undefined {
  return recordingSpan()?.spanContext().traceId;
}
