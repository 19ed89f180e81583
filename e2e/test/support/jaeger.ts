// Jaeger for the tracing scenario: the Deployment and Service of
// manifests/samples/tracing/10-jaeger.yaml as a user applies them, with the
// image the cluster has (scripts/jaeger/build.sh --print-image, imported by
// scripts/e2e.sh; KVRING_E2E_JAEGER_IMAGE elsewhere, e.g.
// jaegertracing/jaeger:2.12.0), and its query API read through the API
// server's service proxy, so the suite needs no route to the pod network.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@kvring/control-plane';
import type { Kubectl } from './kubectl.js';

export const TRACING_DIR = join(REPO_ROOT, 'manifests', 'samples', 'tracing');
export const TRACING_NS = 'observability';
/** scripts/jaeger/versions.env's JAEGER_IMAGE. */
export const JAEGER_IMAGE = process.env.KVRING_E2E_JAEGER_IMAGE ?? 'kvring.local/e2e/jaeger:v1.75.0';

interface Doc {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec: { containers: { image: string }[] } }; tracing?: { endpoint: string } };
}

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(TRACING_DIR, file), 'utf8')).map((d) => d.toJSON() as Doc);
}

/** The sample's namespace and Jaeger, Jaeger running `image`: a kubectl List (JSON). */
export function jaegerManifests(image = JAEGER_IMAGE): string {
  const items = [...docs('00-namespace.yaml'), ...docs('10-jaeger.yaml')];
  for (const d of items) for (const c of d.spec?.template?.spec.containers ?? []) c.image = image;
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** The sample's KVCluster demo with spec.tracing, sending to `endpoint` (no Collector in this cluster). */
export function kvclusterTracing(endpoint: string): { manifest: string; samplingRatio: number } {
  const [d] = docs('30-kvcluster.yaml') as [Doc & { spec: { tracing: { samplingRatio: number } } }];
  d.spec.tracing.endpoint = endpoint;
  return { manifest: JSON.stringify(d), samplingRatio: d.spec.tracing.samplingRatio };
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: { key: string; value: unknown }[] }>;
}

export function tag(tags: readonly { key: string; value: unknown }[], key: string): unknown {
  return tags.find((t) => t.key === key)?.value;
}

/** The process (service and resource attributes) of a span. */
export function processOf(t: JaegerTrace, s: JaegerSpan): { serviceName: string; pod: string } {
  const p = t.processes[s.processID]!;
  const pod = tag(p.tags, 'k8s.pod.name');
  return { serviceName: p.serviceName, pod: typeof pod === 'string' ? pod : '' };
}

export class JaegerApi {
  constructor(private readonly k: Kubectl) {}

  private async get<T>(path: string, params: Record<string, string> = {}): Promise<T | undefined> {
    const qs = new URLSearchParams(params).toString();
    const url = `/api/v1/namespaces/${TRACING_NS}/services/jaeger:query/proxy${path}${qs ? `?${qs}` : ''}`;
    const r = await this.k.run(['get', '--raw', url], { timeoutMs: 30_000 });
    // Jaeger answers 404 for a trace it does not (yet) have.
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout) as T;
  }

  async services(): Promise<string[]> {
    return (await this.get<{ data: string[] | null }>('/api/services'))?.data ?? [];
  }

  async trace(traceId: string): Promise<JaegerTrace | undefined> {
    return (await this.get<{ data: JaegerTrace[] }>(`/api/traces/${traceId}`))?.data[0];
  }

  /** Recent traces of `service` holding a span named `operation` with `tags`. */
  async search(
    service: string,
    operation: string,
    tags: Record<string, string>,
    limit = 20,
  ): Promise<JaegerTrace[]> {
    return (
      (
        await this.get<{ data: JaegerTrace[] }>('/api/traces', {
          service,
          operation,
          tags: JSON.stringify(tags),
          limit: String(limit),
          lookback: '1h',
        })
      )?.data ?? []
    );
  }
}
