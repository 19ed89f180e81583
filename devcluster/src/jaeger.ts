// A real Jaeger (cmd/jaeger v1.75.0, built and cached by
// scripts/jaeger/build.sh, which `make test` runs first) on a loopback
// address of its own: OTLP over HTTP in, in-memory storage, and the query
// API that the tracing tests read traces back from. Also the trace sink of
// the tracing overhead benchmark.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomSubnet } from './local-cluster.js';
import { Child } from './process.js';

// The checkout's root, from devcluster/src (tests) or devcluster/dist.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A span as Jaeger's query API (/api/traces) returns it. */
export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: readonly { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  readonly tags: readonly { key: string; value: unknown }[];
  readonly processID: string;
}

export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerSpan[];
  readonly processes: Readonly<
    Record<string, { serviceName: string; tags: { key: string; value: unknown }[] }>
  >;
}

export interface Jaeger {
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpUrl: string;
  readonly queryUrl: string;
  /** The trace, or undefined while Jaeger has none by that id. */
  trace(traceId: string): Promise<JaegerTrace | undefined>;
  /** Traces of `service` with spans matching `tags` (Jaeger's tag search), newest first. */
  search(service: string, tags: Record<string, string>, operation?: string): Promise<JaegerTrace[]>;
  /** Polls `probe` until it returns a value (bounded); its last error is the failure. */
  eventually<T>(probe: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
  output(): string;
}

export function jaegerBinary(): string {
  return execFileSync('bash', [join(ROOT, 'scripts/jaeger/build.sh'), '--print-bin'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** A config with only what the tests use, every port on `host`. */
function config(host: string): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ${host}:13133
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: ${host}:16686
    grpc:
      endpoint: ${host}:16685
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${host}:4318
processors:
  batch:
    timeout: 50ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** Starts Jaeger on `host` (default: .200 of a random loopback subnet). */
export async function startJaeger(host = `${randomSubnet()}.200`): Promise<Jaeger> {
  const bin = jaegerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'kvring-jaeger-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, config(host));
  const child = new Child({
    name: 'jaeger',
    command: bin,
    args: ['--config', file],
    env: {},
    logFile: join(dir, 'jaeger.log'),
    echo: false,
  });
  child.start();
  const queryUrl = `http://${host}:16686`;
  const get = async (path: string): Promise<Response> =>
    fetch(`${queryUrl}${path}`, { signal: AbortSignal.timeout(5000) });
  const eventually = async <T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(
          `not seen in Jaeger within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`,
          {
            cause: last,
          },
        );
      if (!child.running) throw new Error(`jaeger exited:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    await eventually(async () => ((await get('/api/services')).ok ? true : undefined), 60_000);
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}\n${child.output()}`, { cause: err });
  }
  return {
    otlpUrl: `http://${host}:4318`,
    queryUrl,
    async trace(traceId) {
      const res = await get(`/api/traces/${traceId}`);
      if (res.status === 404) return undefined;
      if (!res.ok) throw new Error(`GET /api/traces/${traceId}: HTTP ${res.status}`);
      const body = (await res.json()) as { data: JaegerTrace[] };
      return body.data[0];
    },
    async search(service, tags, operation) {
      const q = new URLSearchParams({ service, limit: '1000', lookback: '1h', tags: JSON.stringify(tags) });
      if (operation !== undefined) q.set('operation', operation);
      const res = await get(`/api/traces?${q.toString()}`);
      if (!res.ok) throw new Error(`GET /api/traces: HTTP ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { data: JaegerTrace[] | null }).data ?? [];
    },
    eventually,
    async stop() {
      await child.stop();
      child.closeLog();
    },
    output: () => child.output(),
  };
}

/** The tag `key` of a span, or undefined. */
export function tagOf(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

/** The member (service.instance.id) whose process emitted `span`. */
export function memberOf(trace: JaegerTrace, span: JaegerSpan): string | undefined {
  const p = trace.processes[span.processID];
  return p?.tags.find((t) => t.key === 'service.instance.id')?.value as string | undefined;
}
