// Starts the OpenTelemetry SDK when tracing is on (settings.ts). Loaded with
// import() only then: with tracing off, no SDK module is read and nothing is
// registered, so @opentelemetry/api stays its no-op self and the
// instrumentation's guards (tracer.ts) skip all work.
import type { TracingSettings } from './settings.js';
import { enableTracing } from './tracer.js';

export interface TracingHandle {
  /** Exports what is buffered and stops the SDK (SIGTERM). */
  shutdown(): Promise<void>;
}

export interface TracingIdentity {
  /** service.name unless OTEL_SERVICE_NAME says otherwise. */
  readonly serviceName: string;
  /** service.instance.id (the member name), unless OTEL_RESOURCE_ATTRIBUTES sets it. */
  readonly instanceId: string;
  readonly version: string;
}

export async function startTracing(settings: TracingSettings, id: TracingIdentity): Promise<TracingHandle> {
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources, exporter] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    settings.protocol === 'http/json'
      ? import('@opentelemetry/exporter-trace-otlp-http')
      : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  // Precedence, lowest first: kvring's defaults, OTEL_RESOURCE_ATTRIBUTES,
  // OTEL_SERVICE_NAME (the envDetector reads both).
  const resource = resources
    .resourceFromAttributes({
      'service.name': id.serviceName,
      'service.instance.id': id.instanceId,
      'service.version': id.version,
    })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // The exporter reads its endpoint, headers, timeout and compression from
  // OTEL_EXPORTER_OTLP_[TRACES_]*; the provider reads OTEL_TRACES_SAMPLER[_ARG]
  // and the span limits. Batching keeps export off the request path.
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new exporter.OTLPTraceExporter())],
  });
  // The AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  enableTracing();
  return { shutdown: () => provider.shutdown() };
}
