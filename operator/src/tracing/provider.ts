// Starts the OpenTelemetry SDK for the operator when tracing is on: a
// NodeTracerProvider (AsyncLocalStorage context, W3C trace context
// propagation, the sampler from OTEL_TRACES_SAMPLER), a batching processor
// and the OTLP exporter of the configured protocol (each reads its
// endpoint and headers from the OTEL_* variables). The SDK is imported only
// here and only when on, so an operator without tracing never loads it.
import { diag, DiagLogLevel } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '../log.js';
import type { OperatorTracingConfig } from './config.js';
import { setTracingEnabled } from './spans.js';

/** service.name unless OTEL_SERVICE_NAME says otherwise. */
export const OPERATOR_SERVICE_NAME = 'kvring-operator';

export interface Tracing {
  /** Exports what is buffered and stops (bounded by the SDK's export timeout). */
  shutdown(): Promise<void>;
}

async function exporterFor(protocol: OperatorTracingConfig['protocol']): Promise<SpanExporter> {
  switch (protocol) {
    case 'grpc':
      return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  }
}

export async function startTracing(config: OperatorTracingConfig, log: Logger): Promise<Tracing> {
  // The SDK reports failed exports on its diagnostic logger, silent unless
  // one is set: warnings and errors go to the operator's log.
  const otelLog = log.child({ subsystem: 'opentelemetry' });
  diag.setLogger(
    {
      error: (msg, ...args) => otelLog.warn({ args: args.map(String) }, msg),
      warn: (msg, ...args) => otelLog.warn({ args: args.map(String) }, msg),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources, exporter] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    exporterFor(config.protocol),
  ]);
  // Ours first: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it.
  const resource = resources
    .resourceFromAttributes({ 'service.name': OPERATOR_SERVICE_NAME })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  setTracingEnabled(true);
  log.info(
    { endpoint: config.endpoint, protocol: config.protocol },
    'tracing on: reconciles export spans over OTLP',
  );
  return {
    async shutdown() {
      setTracingEnabled(false);
      await provider.shutdown();
    },
  };
}
