// Tracing of a group commit (pg/batcher.ts): each write notes the span it was
// submitted under; a flush that carried any recording write gets one span,
// a child of the first such write (so a lone Set's trace holds its flush) and
// linked to every write it carried (so each write's trace can reach it).
import { trace, ROOT_CONTEXT, type Attributes } from '@opentelemetry/api';
import { SpanKind, endWith, inSpanUnder, recordingSpan, type SpanContext } from './tracer.js';

export interface FlushTracer {
  /** The submitting write's span context, when it records. */
  capture(): SpanContext | undefined;
  /** Runs one flush, in a span when any of `carried` is defined. */
  around<T>(
    carried: readonly (SpanContext | undefined)[],
    attributes: Attributes,
    fn: () => Promise<T>,
  ): Promise<T>;
}

export function flushTracer(name: string): FlushTracer {
  return {
    capture: () => recordingSpan()?.spanContext(),
    around(carried, attributes, fn) {
      const links = carried.filter((c): c is SpanContext => c !== undefined);
      if (links.length === 0) return fn();
      const parent = trace.setSpanContext(ROOT_CONTEXT, links[0]!);
      return inSpanUnder(parent, name, { kind: SpanKind.CLIENT, attributes, links }, (span) =>
        endWith(span, fn()),
      );
    },
  };
}
