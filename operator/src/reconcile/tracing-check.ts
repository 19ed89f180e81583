// Checks of spec.tracing beyond what the CRD enforces (a cluster stored
// before the CRD had those rules, or a CRD left at an older version still
// gets a clear message), and of the headers Secret's content, which no
// schema sees. A bad value stops the reconcile like a missing Secret:
// Degraded, with the field, the limit and an example; pods are never
// started with settings their SDK would silently drop.
import { TRACING_PROTOCOLS, type ResolvedSpec, type TracingProtocol } from '../api/types.js';
import { OWN_RESOURCE_ATTRIBUTES } from '../builders/tracing.js';
import type { Problem } from './status.js';

export const TRACING_REASON = {
  /** spec.tracing holds a value the nodes cannot use. */
  invalid: 'InvalidTracing',
  /** The headers Secret's value is not OTLP's key=value,key=value. */
  invalidHeaders: 'InvalidTracingHeaders',
} as const;

/**
 * The protocols the kvring-node image exports with (its
 * node/src/tracing/settings.ts refuses the others at start). The CRD also
 * offers grpc, for the day the node does: until then a cluster asking for
 * it is told here, instead of crash-looping pods.
 */
export const NODE_PROTOCOLS: readonly TracingProtocol[] = ['http/protobuf', 'http/json'];

/** The OpenTelemetry SDK drops OTEL_RESOURCE_ATTRIBUTES whole when a key or value is longer. */
export const MAX_ATTRIBUTE_LENGTH = 255;

function invalid(field: string, detail: string): Problem {
  return { reason: TRACING_REASON.invalid, message: `spec.tracing.${field} ${detail}` };
}

function checkEndpoint(endpoint: string): Problem | undefined {
  const example = 'e.g. http://otel-collector.observability.svc:4318 (http) or :4317 (grpc)';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return invalid('endpoint', `("${endpoint}") is not a URL; ${example}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return invalid('endpoint', `must start with http:// or https://, got "${url.protocol}"; ${example}`);
  if (url.username || url.password)
    return invalid(
      'endpoint',
      'must not carry credentials: put them in the Secret named by spec.tracing.headersSecret ' +
        '(e.g. authorization=Bearer%20<token>)',
    );
  if (url.search || url.hash)
    return invalid('endpoint', `must have no query or fragment (got "${url.search}${url.hash}")`);
  return undefined;
}

export function checkTracing(spec: ResolvedSpec): Problem | undefined {
  const t = spec.tracing;
  if (!t) return undefined;
  const endpoint = checkEndpoint(t.endpoint);
  if (endpoint) return endpoint;
  if (!TRACING_PROTOCOLS.includes(t.protocol))
    return invalid('protocol', `must be one of ${TRACING_PROTOCOLS.join(', ')}, got "${t.protocol}"`);
  if (!NODE_PROTOCOLS.includes(t.protocol))
    return invalid(
      'protocol',
      `${t.protocol} is not supported by the kvring-node image, which exports OTLP over HTTP: use ` +
        `${NODE_PROTOCOLS.join(' or ')} with the collector's HTTP port (4318)`,
    );
  if (!Number.isFinite(t.samplingRatio) || t.samplingRatio < 0 || t.samplingRatio > 1)
    return invalid(
      'samplingRatio',
      `must be between 0 and 1 (0.01 traces 1 request in 100), got ${t.samplingRatio}`,
    );
  for (const [key, value] of Object.entries(t.resourceAttributes)) {
    const field = `resourceAttributes["${key}"]`;
    if (OWN_RESOURCE_ATTRIBUTES.includes(key))
      return invalid(
        field,
        `is set by the operator (${OWN_RESOURCE_ATTRIBUTES.join(', ')} identify each pod); remove it`,
      );
    if (key.length === 0 || key.length > MAX_ATTRIBUTE_LENGTH)
      return invalid(field, `has a key of ${key.length} characters: 1 to ${MAX_ATTRIBUTE_LENGTH} allowed`);
    if (value.length > MAX_ATTRIBUTE_LENGTH)
      return invalid(
        field,
        `has a value of ${value.length} characters: at most ${MAX_ATTRIBUTE_LENGTH} allowed`,
      );
  }
  return undefined;
}

/** HTTP header names (RFC 9110 tokens). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Checks an OTEL_EXPORTER_OTLP_HEADERS value (key=value pairs separated by
 * commas, values percent-encoded). The message never quotes the value: it
 * is a credential.
 */
export function checkHeaders(text: string, where: string): Problem | undefined {
  const entries = text.split(',').map((e) => e.trim());
  const example = 'e.g. authorization=Bearer%20<token>,x-scope-orgid=shop';
  for (const [i, entry] of entries.entries()) {
    if (entry === '' && entries.length > 1)
      return {
        reason: TRACING_REASON.invalidHeaders,
        message: `${where}: entry ${i + 1} is empty; ${example}`,
      };
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq < 0 ? '' : entry.slice(0, eq).trim();
    if (eq < 0 || !HEADER_NAME.test(name))
      return {
        reason: TRACING_REASON.invalidHeaders,
        message: `${where}: entry ${i + 1} is not name=value with an HTTP header name; ${example}`,
      };
    try {
      decodeURIComponent(entry.slice(eq + 1));
    } catch {
      return {
        reason: TRACING_REASON.invalidHeaders,
        message: `${where}: the value of ${name} has a malformed percent-encoding (write a space as %20)`,
      };
    }
  }
  return undefined;
}
