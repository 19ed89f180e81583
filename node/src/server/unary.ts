// Adapts an async handler to a grpc-js unary handler: metrics by method and
// status code, and errors mapped by the one table in errors.ts and sent
// with their ErrorInfo (status-details.ts). Nothing
// here knows about keys or replicas.
import { status, type ServerUnaryCall, type handleUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { LabelValues } from 'prom-client';
import type { UnauthenticatedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { exemplarTraceId, inServerSpan, tracingOn, type Attributes } from '../tracing/tracer.js';
import { toWireError } from './status-details.js';

export interface UnaryContext {
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  /** Returns the error when the call must be refused (authentication). */
  readonly authorize?: (
    call: Pick<ServerUnaryCall<unknown, unknown>, 'metadata'>,
  ) => UnauthenticatedError | undefined;
}

const CODE_NAMES: string[] = [];
for (const [name, value] of Object.entries(status)) if (typeof value === 'number') CODE_NAMES[value] = name;

/** The request counter (by status code) and latency timer of one method; label lookups cached. */
export interface MethodMetrics {
  count(code: status): void;
  /** Records the latency of a request that started at `start` (performance.now()), with its sampled trace as exemplar. */
  observe(start: number, traceId?: string): void;
}

export function methodMetrics(metrics: NodeMetrics, method: string): MethodMetrics {
  const timer = metrics.requestDuration.labels(method);
  const byCode = new Map<status, ReturnType<typeof metrics.requests.labels>>();
  return {
    count(code) {
      let c = byCode.get(code);
      if (c === undefined)
        byCode.set(code, (c = metrics.requests.labels(method, CODE_NAMES[code] ?? String(code))));
      c.inc();
    },
    observe(start, traceId) {
      const value = (performance.now() - start) / 1000;
      if (traceId === undefined || !metrics.exemplars) timer.observe(value);
      // prom-client types exemplar labels as the metric's own label names; they are any names.
      else
        metrics.requestDuration.observe({ labels: { method }, value, exemplarLabels: exemplarOf(traceId) });
    },
  };
}

function exemplarOf(traceId: string): LabelValues<'method'> {
  const labels: LabelValues<string> = { trace_id: traceId };
  return labels;
}

export function unary<Req, Res>(
  ctx: UnaryContext,
  method: string,
  fn: (req: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  const { log } = ctx;
  const m = methodMetrics(ctx.metrics, method);
  const count = (code: status): void => m.count(code);
  const { spanName, attributes } = rpcSpanOf(method);
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const denied = ctx.authorize?.(call);
    if (denied !== undefined) {
      const wire = toWireError(denied);
      count(wire.code);
      callback(wire);
      return;
    }
    const start = performance.now();
    let traceId: string | undefined;
    const run = (): Promise<Res> => {
      traceId = exemplarTraceId();
      return fn(call.request);
    };
    const running = tracingOn()
      ? inServerSpan(call.metadata, spanName, attributes, run, (err) => toWireError(err).code)
      : run();
    running.then(
      (res) => {
        m.observe(start, traceId);
        count(status.OK);
        callback(null, res);
      },
      (err: Error) => {
        m.observe(start, traceId);
        const wire = toWireError(err);
        count(wire.code);
        if (wire.code === status.INTERNAL) log.error({ err, method }, 'request failed');
        callback(wire);
      },
    );
  };
}

/** The server span's name and attributes for a method label ("Get", "cache.Get", "Pipeline.Get"). */
export function rpcSpanOf(method: string): { spanName: string; attributes: Attributes } {
  const service = method.startsWith('cache.') ? 'cache.CacheService' : 'kvring.v1.KVService';
  const name = method.startsWith('cache.') ? method.slice('cache.'.length) : method;
  return {
    spanName: `${service}/${name}`,
    attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name },
  };
}
