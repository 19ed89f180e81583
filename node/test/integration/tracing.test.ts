// Tracing end to end with the real thing: a Jaeger built from its Go module
// (@kvring/devcluster/jaeger) receives OTLP from three real node processes, and
// the traces are read back through Jaeger's query API. The nodes sample no
// trace of their own (parentbased_traceidratio, ratio 0): a request is
// traced only when its caller's traceparent says sampled, so the same
// cluster shows both the traces and that ratio 0 exports nothing.
// kv-1 exports OTLP as JSON, the others as protobuf: a Set's trace, which
// spans all three nodes, needs both.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Metadata, credentials } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { KvClient } from '@kvring/client';
import type { LocalNode } from '@kvring/devcluster/local-cluster';
import { GetRequest, KVServiceClient, SetRequest } from '../../src/gen/kvring/v1/kvring.js';
import { startTestEnv, type TestEnv } from '../support/cluster.js';
import {
  memberOf,
  startJaeger,
  tagOf,
  type Jaeger,
  type JaegerSpan,
  type JaegerTrace,
} from '@kvring/devcluster/jaeger';

let jaeger: Jaeger;
let env: TestEnv;

beforeAll(async () => {
  jaeger = await startJaeger();
  env = await startTestEnv({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
      // Export within 100 ms of a span's end rather than the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '100',
      KVRING_ANTI_ENTROPY_INTERVAL: '1h',
    },
    nodeEnv: (i) => ({ OTEL_EXPORTER_OTLP_PROTOCOL: i === 1 ? 'http/json' : 'http/protobuf' }),
  });
}, 180_000);

afterAll(async () => {
  await env?.stop();
  await jaeger?.stop();
}, 60_000);

/** A sampled W3C traceparent of a new trace: [header, trace id, parent span id]. */
function sampledParent(): [string, string, string] {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return [`00-${traceId}-${spanId}-01`, traceId, spanId];
}

const raw = new Map<string, KVServiceClient>();
function rawClient(node: LocalNode): KVServiceClient {
  let c = raw.get(node.clientAddress);
  if (c === undefined)
    raw.set(node.clientAddress, (c = new KVServiceClient(node.clientAddress, credentials.createInsecure())));
  return c;
}
afterAll(() => {
  for (const c of raw.values()) c.close();
});

/** Calls `method` on `node` with the given traceparent in the metadata (the way a traced caller would). */
function callWith<Res>(
  node: LocalNode,
  method: 'set' | 'get',
  partial: object,
  traceparent: string,
): Promise<Res> {
  // Every field given its default, as the generated encoders expect.
  const req = method === 'set' ? SetRequest.fromPartial(partial) : GetRequest.fromPartial(partial);
  const md = new Metadata();
  md.set('traceparent', traceparent);
  const c = rawClient(node) as unknown as Record<
    string,
    (req: object, md: Metadata, opts: object, cb: (err: Error | null, res: Res) => void) => void
  >;
  return new Promise((resolve, reject) =>
    c[method]!.call(rawClient(node), req, md, { deadline: Date.now() + 15_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

function named(trace: JaegerTrace, op: string): JaegerSpan[] {
  return trace.spans.filter((s) => s.operationName === op);
}

function summary(trace: JaegerTrace | undefined): string {
  if (trace === undefined) return 'no trace yet';
  return trace.spans.map((s) => `${s.operationName}@${memberOf(trace, s)}`).join(', ');
}

/** Polls Jaeger for trace `id` until `complete` stops throwing; its last complaint is the failure. */
async function traceWhen(id: string, complete: (t: JaegerTrace) => void): Promise<JaegerTrace> {
  return jaeger.eventually(async () => {
    const t = await jaeger.trace(id);
    if (t === undefined) throw new Error(`trace ${id}: not in Jaeger`);
    try {
      complete(t);
    } catch (err) {
      throw new Error(`trace ${id} [${summary(t)}]: ${(err as Error).message}`, { cause: err });
    }
    return t;
  });
}

describe('tracing into a real Jaeger', () => {
  it('a Set is one trace: the coordinator span under the caller, the PostgreSQL flush, and replica writes on W other nodes', async () => {
    const coordinator = env.cluster.nodes[0]!;
    const [tp, traceId, parentSpan] = sampledParent();
    const key = `traced-set-${traceId.slice(0, 8)}`;
    await callWith(coordinator, 'set', { key, value: Buffer.from('v'), ttlMs: 0 }, tp);
    // The latency histogram points at the trace (an OpenMetrics exemplar).
    const scrape = await fetch(`${coordinator.httpUrl}/metrics`, {
      headers: { accept: 'application/openmetrics-text' },
    });
    expect(scrape.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    expect(await scrape.text()).toMatch(
      new RegExp(
        `^kvring_request_duration_seconds_bucket\\{[^}]*method="Set"[^}]*\\} \\d+ # \\{trace_id="${traceId}"\\}`,
        'm',
      ),
    );

    const others = (t: JaegerTrace): Set<string> =>
      new Set(
        named(t, 'replica write')
          .map((s) => memberOf(t, s))
          .filter((m): m is string => m !== undefined && m !== coordinator.name),
      );
    const trace = await traceWhen(traceId, (t) => {
      if (named(t, 'kvring.v1.KVService/Set').length !== 1) throw new Error('no server span');
      if (named(t, 'postgres group commit').length !== 1) throw new Error('no flush span');
      if (others(t).size < 2) throw new Error('replica writes on fewer than W=2 other nodes');
    });

    const server = named(trace, 'kvring.v1.KVService/Set')[0]!;
    expect(memberOf(trace, server)).toBe(coordinator.name);
    // The caller's traceparent is the server span's parent.
    expect(server.references).toContainEqual({ refType: 'CHILD_OF', traceID: traceId, spanID: parentSpan });
    const flush = named(trace, 'postgres group commit')[0]!;
    expect(memberOf(trace, flush)).toBe(coordinator.name);
    expect(flush.references.map((r) => r.spanID)).toContain(server.spanID);
    expect(tagOf(flush, 'db.system.name')).toBe('postgresql');
    expect(others(trace)).toEqual(new Set(['kv-1', 'kv-2']));
    // Each remote replica span hangs under the coordinator's peer call that carried its context.
    const peerCalls = new Set(named(trace, 'peer write').map((s) => s.spanID));
    for (const s of named(trace, 'replica write').filter((x) => memberOf(trace, x) !== coordinator.name)) {
      expect(tagOf(s, 'kvring.key')).toBe(key);
      expect(peerCalls.has(s.references.find((r) => r.refType === 'CHILD_OF')!.spanID)).toBe(true);
    }
  });

  it('a read-through is traced to the legacy HTTP call', async () => {
    const [tp, traceId] = sampledParent();
    const key = 'legacy:7';
    const got = await callWith<{ found: boolean }>(env.cluster.nodes[2]!, 'get', { key }, tp);
    expect(got.found).toBe(true);
    const trace = await traceWhen(traceId, (t) => {
      if (named(t, 'legacy GET').length !== 1) throw new Error('no legacy span');
      if (named(t, 'kvring.v1.KVService/Get').length !== 1) throw new Error('no server span');
    });
    const legacy = named(trace, 'legacy GET')[0]!;
    expect(tagOf(legacy, 'http.response.status_code')).toBe(200);
    expect(String(tagOf(legacy, 'url.full'))).toContain(encodeURIComponent(key));
    expect(named(trace, 'kvring.v1.KVService/Get')).toHaveLength(1);
  });

  it('a herd of coalesced misses makes one legacy span, linked from every waiter', async () => {
    const key = 'legacy:42';
    // A slow legacy API keeps the one call open while the herd arrives.
    await env.legacy.setConfig({ latencyMs: 1000 });
    const herd = Array.from({ length: 9 }, () => sampledParent());
    try {
      const results = await Promise.all(
        herd.map(([tp], i) => callWith<{ found: boolean }>(env.cluster.nodes[i % 3]!, 'get', { key }, tp)),
      );
      expect(results.every((r) => r.found)).toBe(true);
    } finally {
      await env.legacy.setConfig({ latencyMs: 0 });
    }
    const complete = (t: JaegerTrace): void => {
      if (named(t, 'kvring.v1.KVService/Get').length === 0) throw new Error('no server span');
      if (named(t, 'read-through').length === 0) throw new Error('no read-through span');
    };
    // The legacy span comes from the key's primary, maybe later than the
    // coordinators' spans: read the herd's traces until it is in one.
    const traces = await jaeger.eventually(async () => {
      const got = await Promise.all(herd.map(([, id]) => traceWhen(id, complete)));
      return got.some((t) => named(t, 'legacy GET').length > 0) ? got : undefined;
    });
    const legacySpans = traces.flatMap((t) => named(t, 'legacy GET'));
    expect(legacySpans).toHaveLength(1);
    const legacy = legacySpans[0]!;
    for (const t of traces) {
      const waiter = named(t, 'read-through')[0]!;
      expect(waiter.references).toContainEqual({
        refType: 'FOLLOWS_FROM',
        traceID: legacy.traceID,
        spanID: legacy.spanID,
      });
    }
    // All but the one that started it joined a call already running.
    const joined = traces.filter((t) => tagOf(named(t, 'read-through')[0]!, 'kvring.coalesced') === true);
    expect(joined).toHaveLength(herd.length - 1);
  });

  it('ratio 0 exports nothing of unsampled requests (a sampled control from the same node arrives)', async () => {
    const node = env.cluster.nodes[0]!;
    const client = new KvClient(node.clientAddress, { timeoutMs: 15_000, ringAware: false });
    try {
      for (let i = 0; i < 20; i++) await client.set(`unsampled-${i}`, 'v');
      await client.get('unsampled-3');
    } finally {
      client.close();
    }
    // Spans leave in the order they end: once the control's are in Jaeger,
    // any of the requests before it would be too.
    const [tp, traceId] = sampledParent();
    await callWith(node, 'set', { key: 'sampled-control', value: Buffer.from('v'), ttlMs: 0 }, tp);
    await traceWhen(traceId, (t) => {
      if (named(t, 'replica write').length < 2) throw new Error('control trace incomplete');
    });
    const all = await jaeger.search('kvring-node', {});
    const keys = new Set(all.flatMap((t) => t.spans.map((s) => String(tagOf(s, 'kvring.key')))));
    expect(keys.has('sampled-control')).toBe(true);
    expect([...keys].filter((k) => k.startsWith('unsampled-'))).toEqual([]);
  });
});

describe('the client continues an application trace', () => {
  // Last in the file: it registers an SDK in this process for good.
  it('the application span, the client span and the node spans are one trace', async () => {
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'kvring-tracing-test' }),
      spanProcessors: [
        new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${jaeger.otlpUrl}/v1/traces` })),
      ],
    });
    provider.register();
    const client = new KvClient(env.cluster.nodes[1]!.clientAddress, { timeoutMs: 15_000, ringAware: false });
    try {
      const traceId = await trace.getTracer('app').startActiveSpan('app request', async (span) => {
        await client.set('from-an-app', 'v');
        span.end();
        return span.spanContext().traceId;
      });
      await provider.forceFlush();
      const t = await traceWhen(traceId, (x) => {
        if (named(x, 'replica write').length < 2) throw new Error('node spans missing');
      });
      const app = named(t, 'app request')[0]!;
      const clientSpan = named(t, 'kvring.v1.KVService/Set').find((s) => memberOf(t, s) === undefined)!;
      expect(clientSpan.references).toContainEqual({
        refType: 'CHILD_OF',
        traceID: traceId,
        spanID: app.spanID,
      });
      const server = named(t, 'kvring.v1.KVService/Set').find((s) => memberOf(t, s) === 'kv-1')!;
      expect(server.references).toContainEqual({
        refType: 'CHILD_OF',
        traceID: traceId,
        spanID: clientSpan.spanID,
      });
    } finally {
      client.close();
      await provider.shutdown();
    }
  });
});
