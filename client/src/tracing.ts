// Client spans: when the application runs an OpenTelemetry SDK, each call
// is a client span and its W3C trace context goes to the node in the call's
// metadata, so the application's trace continues through kvring.
// @opentelemetry/api is an optional peer dependency: without it, or with it
// and no SDK registered, calls go out exactly as before.
import type { Metadata } from '@grpc/grpc-js';
import type * as OtelApi from '@opentelemetry/api';

const api: typeof OtelApi | undefined = await import('@opentelemetry/api').then(
  (m) => m,
  () => undefined,
);

const setter: OtelApi.TextMapSetter<Metadata> = { set: (md, key, value) => md.set(key, value) };

/**
 * Runs `fn` in a client span named for the RPC (`kvring.v1.KVService/<Method>`),
 * with `md` plus the span's traceparent. Without a recording span (no SDK,
 * or not sampled) `fn` gets `md` unchanged.
 */
export function tracedCall<T>(
  rpcMethod: string,
  key: string | undefined,
  md: Metadata,
  fn: (md: Metadata) => Promise<T>,
): Promise<T> {
  if (api === undefined) return fn(md);
  const { trace, context, propagation, SpanKind, SpanStatusCode } = api;
  const tracer = trace.getTracer('@kvring/client');
  const span = tracer.startSpan(`kvring.v1.KVService/${rpcMethod}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'rpc.system': 'grpc',
      'rpc.service': 'kvring.v1.KVService',
      'rpc.method': rpcMethod,
      ...(key !== undefined && { 'kvring.key': key }),
    },
  });
  if (!span.isRecording()) {
    span.end();
    return fn(md);
  }
  const ctx = trace.setSpan(context.active(), span);
  const withContext = md.clone();
  propagation.inject(ctx, withContext, setter);
  return context
    .with(ctx, () => fn(withContext))
    .then(
      (v) => {
        span.end();
        return v;
      },
      (err: unknown) => {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        span.end();
        throw err;
      },
    );
}
