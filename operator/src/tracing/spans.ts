// The operator's spans: one root span per reconcile, and child spans for
// the calls a reconcile makes (Kubernetes API requests, node probes). With
// tracing off no provider is registered and these helpers call straight
// through: no span object, no context switch, one boolean test.
import {
  SpanKind,
  SpanStatusCode,
  context,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

let enabled = false;
let cachedTracer: Tracer | undefined;

/** Called once a tracer provider is registered (provider.ts). */
export function setTracingEnabled(on: boolean): void {
  enabled = on;
  cachedTracer = undefined;
}

export function tracingEnabled(): boolean {
  return enabled;
}

function tracer(): Tracer {
  cachedTracer ??= trace.getTracer('kvring-operator');
  return cachedTracer;
}

async function run<T>(span: Span, fn: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await fn(span);
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * `fn` inside a new trace (each reconcile is its own trace, whatever ran
 * before it on this worker). `span` is undefined when tracing is off.
 */
export function inRootSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return fn(undefined);
  return tracer().startActiveSpan(
    name,
    { kind: SpanKind.INTERNAL, attributes, root: true },
    context.active(),
    (span) => run(span, fn),
  );
}

/**
 * `fn` inside a child of the active span; called straight through when no
 * recorded span is active (tracing off, a request outside a reconcile such
 * as an informer's watch, or a reconcile the sampler left out).
 */
export function inChildSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return fn(undefined);
  const parent = trace.getActiveSpan();
  if (!parent?.isRecording()) return fn(undefined);
  return tracer().startActiveSpan(name, { kind, attributes }, (span) => run(span, fn));
}

/**
 * trace_id and span_id of the active span, for every log line written
 * inside a reconcile (pino's mixin): a log line leads to its trace.
 */
export function traceLogFields(): Record<string, string> {
  if (!enabled) return {};
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

export { SpanKind };
