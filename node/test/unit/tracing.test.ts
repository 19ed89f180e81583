// The tracing helpers with the real OpenTelemetry SDK and an in-memory
// exporter: which OTEL_* settings turn tracing on or are refused, the peer
// frame's trace context, a group commit's one span linked to every write it
// carried, and coalesced callers linked to the one span that did the work.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { ConfigError } from '../../src/config/settings.js';
import { GroupCommitBatcher } from '../../src/pg/batcher.js';
import { doLinked, inWorkSpan, type FlightSlots } from '../../src/tracing/flights.js';
import { flushTracer } from '../../src/tracing/flush.js';
import { tracingSettings } from '../../src/tracing/settings.js';
import {
  SpanKind,
  contextFromFrame,
  enableTracing,
  frameTraceContext,
  recordingSpan,
} from '../../src/tracing/tracer.js';
import { SingleFlight } from '../../src/util/singleflight.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  provider.register();
  enableTracing();
});
afterAll(() => provider.shutdown());

const tracer = trace.getTracer('test');
function underSpan<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, (span) => fn(span).finally(() => span.end()));
}

describe('tracing settings (OTEL_*)', () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
  it('is off without an endpoint, and when the SDK or the exporter is disabled', () => {
    expect(tracingSettings({})).toBeUndefined();
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(tracingSettings(endpoint)).toEqual({ protocol: 'http/protobuf' });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    ).toEqual({
      protocol: 'http/json',
    });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /^OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported/],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' }, /^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: thrift/],
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, /^OTEL_TRACES_SAMPLER: sometimes is not one of/],
    [
      { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
      /^OTEL_TRACES_SAMPLER_ARG: 1.5 is not a ratio between 0 and 1/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      /^OTEL_EXPORTER_OTLP_ENDPOINT: collector:4318 is not an http/,
    ],
  ])('refuses %j naming the variable', (bad, message) => {
    expect(() => tracingSettings({ ...endpoint, ...bad })).toThrow(ConfigError);
    expect(() => tracingSettings({ ...endpoint, ...bad })).toThrow(message);
  });
});

describe('trace context in peer frames', () => {
  it('round-trips traceparent and tracestate; nothing without a recording span', async () => {
    expect(frameTraceContext()).toBe('');
    await underSpan('caller', async (span) => {
      const carried = frameTraceContext();
      const c = span.spanContext();
      expect(carried).toBe(`00-${c.traceId}-${c.spanId}-01`);
      const back = trace.getSpanContext(contextFromFrame(`${carried};vendor=x;y`))!;
      expect(back).toMatchObject({ traceId: c.traceId, spanId: c.spanId, isRemote: true });
      expect(back.traceState?.get('vendor')).toBe('x;y');
      await Promise.resolve();
    });
    expect(trace.getSpanContext(contextFromFrame(''))).toBeUndefined();
  });
});

describe('group commit span', () => {
  it('one span per flush, a child of the first write and linked to every traced write it carried', async () => {
    exporter.reset();
    const batcher = new GroupCommitBatcher<string, number>(
      (ops) => Promise.resolve(ops.map((_, i) => i + 1)),
      { maxItems: 10, maxBytes: 1 << 20, maxInFlight: 1, tracer: flushTracer('postgres group commit') },
    );
    const writers: string[] = [];
    await Promise.all([
      underSpan('w1', (s) => (writers.push(s.spanContext().spanId), batcher.submit('a'))),
      underSpan('w2', (s) => (writers.push(s.spanContext().spanId), batcher.submit('b'))),
      batcher.submit('untraced'),
    ]);
    const flushes = exporter.getFinishedSpans().filter((s) => s.name === 'postgres group commit');
    expect(flushes).toHaveLength(1);
    const flush = flushes[0]!;
    expect(flush.parentSpanContext?.spanId).toBe(writers[0]);
    expect(flush.links.map((l) => l.context.spanId)).toEqual(writers);
    expect(flush.attributes['kvring.batch.size']).toBe(3);
  });

  it('no span for a flush that carried no traced write', async () => {
    exporter.reset();
    const batcher = new GroupCommitBatcher<string, number>((ops) => Promise.resolve(ops.map(() => 1)), {
      maxItems: 10,
      maxBytes: 1 << 20,
      maxInFlight: 1,
      tracer: flushTracer('postgres group commit'),
    });
    await batcher.submit('a');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('coalesced callers', () => {
  it('each caller has its span, linked to the one span of the work', async () => {
    exporter.reset();
    const flights = new SingleFlight<string, string>();
    const slots: FlightSlots = new Map();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const work = (): Promise<string> =>
      inWorkSpan('legacy GET', SpanKind.CLIENT, {}, async () => {
        runs++;
        await gate;
        return 'v';
      });
    const callers = ['c1', 'c2', 'c3'].map((name) =>
      underSpan(name, () => doLinked(flights, slots, 'read-through', 'k', () => work())),
    );
    release();
    expect(await Promise.all(callers)).toEqual(['v', 'v', 'v']);
    expect(runs).toBe(1);
    const spans = exporter.getFinishedSpans();
    const legacy = spans.filter((s) => s.name === 'legacy GET');
    expect(legacy).toHaveLength(1);
    const waiters = spans.filter((s) => s.name === 'read-through');
    expect(waiters).toHaveLength(3);
    for (const w of waiters)
      expect(w.links.map((l) => l.context.spanId)).toEqual([legacy[0]!.spanContext().spanId]);
    expect(waiters.map((w) => w.attributes['kvring.coalesced']).sort()).toEqual([false, true, true]);
    expect(slots.size).toBe(0);
  });

  it('is the plain flight outside a recording span', async () => {
    expect(recordingSpan()).toBeUndefined();
    const flights = new SingleFlight<string, number>();
    await expect(doLinked(flights, new Map(), 'read-through', 'k', () => Promise.resolve(1))).resolves.toBe(
      1,
    );
  });
});
