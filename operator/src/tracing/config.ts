// Whether the operator traces, from the standard OpenTelemetry variables:
// on when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or its
// _TRACES_ form), off otherwise, and off when OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. The SDK reads the endpoint, headers, sampler
// and resource attributes itself; this module only decides on/off, picks
// the exporter for the protocol, and refuses at start what the SDK would
// ignore with a line on its (silent) diagnostic logger.

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

export interface OperatorTracingConfig {
  endpoint: string;
  protocol: OtlpProtocol;
}

/** A tracing variable with a value the SDK cannot use; the message names it. */
export class TracingConfigError extends Error {
  override readonly name = 'TracingConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

function first(env: NodeJS.ProcessEnv, ...names: string[]): [string, string] | undefined {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return [n, v];
  }
  return undefined;
}

/** The tracing settings, or undefined when tracing is off. Throws TracingConfigError. */
export function readTracingConfig(env: NodeJS.ProcessEnv = process.env): OperatorTracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter === 'none') return undefined;
  if (exporter && exporter !== 'otlp')
    throw new TracingConfigError(
      'OTEL_TRACES_EXPORTER',
      `only otlp (or none) is supported, got "${exporter}"`,
    );
  const endpoint = first(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (!endpoint) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(endpoint[1]);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new TracingConfigError(
      endpoint[0],
      `expected an http:// or https:// URL such as http://otel-collector.observability.svc:4318, got "${endpoint[1]}"`,
    );
  const proto = first(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL');
  const protocol = proto?.[1] ?? 'http/protobuf';
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol))
    throw new TracingConfigError(
      proto![0],
      `expected one of ${OTLP_PROTOCOLS.join(', ')}, got "${protocol}"`,
    );
  const sampler = env.OTEL_TRACES_SAMPLER?.trim();
  if (sampler && !SAMPLERS.includes(sampler))
    throw new TracingConfigError(
      'OTEL_TRACES_SAMPLER',
      `expected one of ${SAMPLERS.join(', ')}, got "${sampler}"`,
    );
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (arg && sampler?.endsWith('traceidratio')) {
    const ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)
      throw new TracingConfigError(
        'OTEL_TRACES_SAMPLER_ARG',
        `expected a ratio between 0 and 1, got "${arg}"`,
      );
  }
  return { endpoint: endpoint[1], protocol: protocol as OtlpProtocol };
}
