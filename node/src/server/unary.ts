// Adapts an async handler to a grpc-js unary handler: metrics by method and
// status code, and errors mapped by the one table in errors.ts and sent
// with their ErrorInfo (status-details.ts). Nothing
// here knows about keys or replicas.
import { status, type ServerUnaryCall, type handleUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { UnauthenticatedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
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
  /** Records the latency of a request that started at `start` (performance.now()). */
  observe(start: number): void;
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
    observe(start) {
      timer.observe((performance.now() - start) / 1000);
    },
  };
}

export function unary<Req, Res>(
  ctx: UnaryContext,
  method: string,
  fn: (req: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  const { log } = ctx;
  const m = methodMetrics(ctx.metrics, method);
  const count = (code: status): void => m.count(code);
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const denied = ctx.authorize?.(call);
    if (denied !== undefined) {
      const wire = toWireError(denied);
      count(wire.code);
      callback(wire);
      return;
    }
    const start = performance.now();
    fn(call.request).then(
      (res) => {
        m.observe(start);
        count(status.OK);
        callback(null, res);
      },
      (err: Error) => {
        m.observe(start);
        const wire = toWireError(err);
        count(wire.code);
        if (wire.code === status.INTERNAL) log.error({ err, method }, 'request failed');
        callback(wire);
      },
    );
  };
}
