// Whether and how the node traces, from the standard OpenTelemetry variables
// only (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
// Off unless an OTLP endpoint is set; OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn it off again. The SDK reads the rest itself
// (headers, sampler, resource attributes); what it would only log and
// ignore is refused here at start, naming the variable.
import { ConfigError } from '../config/settings.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface TracingSettings {
  readonly protocol: OtlpProtocol;
}

const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json'];
const SAMPLERS: readonly string[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/** The tracing settings, or undefined when tracing is off. Throws ConfigError on bad values. */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (!endpoint) return undefined;
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim();
  if (exporter === 'none') return undefined;
  if (exporter && exporter !== 'otlp')
    throw new ConfigError(`OTEL_TRACES_EXPORTER: ${exporter} is not supported (use otlp or none)`);
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    const v = env[name];
    if (v && !/^https?:\/\/[^/]/.test(v))
      throw new ConfigError(`${name}: ${v} is not an http(s) URL (e.g. http://collector:4318)`);
  }
  const protocolVar = env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protocolVar]?.trim() || 'http/protobuf';
  if (!PROTOCOLS.includes(protocol))
    throw new ConfigError(
      `${protocolVar}: ${protocol} is not supported by kvring-node (use http/protobuf or http/json)`,
    );
  const sampler = env['OTEL_TRACES_SAMPLER']?.trim();
  if (sampler && !SAMPLERS.includes(sampler))
    throw new ConfigError(`OTEL_TRACES_SAMPLER: ${sampler} is not one of ${SAMPLERS.join(', ')}`);
  const arg = env['OTEL_TRACES_SAMPLER_ARG']?.trim();
  if (arg && sampler?.endsWith('traceidratio')) {
    const ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)
      throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG: ${arg} is not a ratio between 0 and 1`);
  }
  return { protocol: protocol as OtlpProtocol };
}
