// The operator's own tracing: on only when an OTLP endpoint is set, bad
// OTEL_* values refused at start with the variable's name, and the span
// helpers (a root span per reconcile, children only inside one) on the
// real SDK with its in-memory exporter.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceOfPath } from '../../src/kube/resources.js';
import { readTracingConfig, TracingConfigError } from '../../src/tracing/config.js';
import {
  SpanKind,
  inChildSpan,
  inRootSpan,
  setTracingEnabled,
  traceLogFields,
} from '../../src/tracing/spans.js';

describe('OTEL_* settings of the operator', () => {
  it('off by default, and when disabled or the exporter is none', () => {
    expect(readTracingConfig({})).toBeUndefined();
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(readTracingConfig({ ...on, OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(readTracingConfig({ ...on, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('on with an endpoint; the protocol defaults to http/protobuf, the _TRACES_ forms win', () => {
    expect(readTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      endpoint: 'http://collector:4318',
      protocol: 'http/protobuf',
    });
    expect(
      readTracingConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4317',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
      }),
    ).toEqual({ endpoint: 'http://jaeger:4317', protocol: 'grpc' });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER'],
    [
      { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
      'OTEL_TRACES_SAMPLER_ARG',
    ],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER'],
  ])('refuses %j naming the variable', (bad, variable) => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', ...bad };
    expect(() => readTracingConfig(env)).toThrow(TracingConfigError);
    expect(() => readTracingConfig(env)).toThrow(new RegExp(`^${variable}: `));
  });
});

describe('span names of Kubernetes API requests', () => {
  it.each([
    ['/apis/apps/v1/namespaces/shop/statefulsets/demo', 'statefulsets'],
    ['/apis/kvring.dev/v1alpha1/namespaces/shop/kvclusters/demo/status', 'kvclusters/status'],
    ['/api/v1/namespaces/shop/secrets/pg-creds', 'secrets'],
    ['/api/v1/namespaces/shop/pods?labelSelector=a', 'pods'],
    ['/api/v1/namespaces/shop', 'namespaces'],
    ['/apis/monitoring.coreos.com/v1', 'monitoring.coreos.com/v1'],
  ])('%s -> %s', (path, name) => {
    expect(resourceOfPath(path)).toBe(name);
  });
});

describe('the span helpers on the real SDK', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  beforeAll(() => {
    provider.register();
  });

  afterAll(async () => {
    setTracingEnabled(false);
    await provider.shutdown();
    trace.disable();
  });

  it('off: the function runs without a span, and nothing is recorded', async () => {
    setTracingEnabled(false);
    exporter.reset();
    const seen = await inRootSpan('reconcile', {}, (span) =>
      inChildSpan('GET pods', SpanKind.CLIENT, {}, async (child) => [span, child]),
    );
    expect(seen).toEqual([undefined, undefined]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('on: a root span per call, children inside it, none outside any root', async () => {
    setTracingEnabled(true);
    exporter.reset();
    await inChildSpan('GET leases', SpanKind.CLIENT, {}, async (span) => expect(span).toBeUndefined());
    for (const name of ['shop/a', 'shop/b'])
      await inRootSpan('reconcile', { 'kvring.kvcluster.name': name }, async (span) => {
        await inChildSpan('PATCH statefulsets', SpanKind.CLIENT, {}, async () => undefined);
        span?.setAttribute('kvring.reconcile.result', 'requeue');
      });
    await expect(
      inRootSpan('reconcile', {}, () =>
        inChildSpan('PUT kvclusters/status', SpanKind.CLIENT, {}, () => {
          throw new Error('409 conflict');
        }),
      ),
    ).rejects.toThrow('409 conflict');
    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === 'reconcile');
    expect(roots).toHaveLength(3);
    // Each reconcile is a trace of its own.
    expect(new Set(roots.map((r) => r.spanContext().traceId)).size).toBe(3);
    for (const r of roots) expect(r.parentSpanContext).toBeUndefined();
    const children = spans.filter((s) => s.name !== 'reconcile');
    expect(children.map((c) => c.name)).toEqual([
      'PATCH statefulsets',
      'PATCH statefulsets',
      'PUT kvclusters/status',
    ]);
    for (const c of children) {
      const parent = roots.find((r) => r.spanContext().spanId === c.parentSpanContext?.spanId);
      expect(parent?.spanContext().traceId).toBe(c.spanContext().traceId);
    }
    expect(roots[0]!.attributes).toMatchObject({ 'kvring.reconcile.result': 'requeue' });
    // A failure marks both the call and the reconcile, with the exception recorded.
    expect(children[2]!.status).toMatchObject({ code: 2, message: '409 conflict' });
    expect(roots[2]!.status.code).toBe(2);
    expect(children[2]!.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('log lines inside a reconcile carry its trace_id and span_id; outside, nothing', async () => {
    setTracingEnabled(true);
    expect(traceLogFields()).toEqual({});
    const inside = await inRootSpan('reconcile', {}, async (span) => ({
      fields: traceLogFields(),
      ids: span!.spanContext(),
    }));
    expect(inside.fields).toEqual({ trace_id: inside.ids.traceId, span_id: inside.ids.spanId });
    setTracingEnabled(false);
    await inRootSpan('reconcile', {}, async () => expect(traceLogFields()).toEqual({}));
  });
});
