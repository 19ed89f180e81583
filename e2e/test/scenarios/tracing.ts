// Scenario 12: tracing as a user turns it on. Jaeger from
// manifests/samples/tracing/ runs in the cluster; `helm upgrade --set
// tracing.enabled=true` points the operator at it, and the sample's
// KVCluster (the demo's with spec.tracing), applied over the demo, points
// the nodes at it (the operator rolls them with the OTEL_* variables). A
// request from the client pod, under a W3C trace context the test makes
// (an application's trace), then shows up in Jaeger's query API as one
// trace with spans from more than one cache pod; and the operator's
// reconcile spans are there, with the Kubernetes API calls they made.
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import {
  JAEGER_IMAGE,
  JaegerApi,
  TRACING_NS,
  jaegerManifests,
  kvclusterTracing,
  processOf,
  tag,
  type JaegerTrace,
} from '../support/jaeger.js';
import { podReady, type PodView } from '../support/kubectl.js';
import {
  CHART,
  OPERATOR_NS,
  RELEASE,
  getKvc,
  helm,
  isReady,
  nodePods,
  HEADLESS_ADDRESS,
  script,
} from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

const secs = (t0: number): string => ((Date.now() - t0) / 1000).toFixed(1);

interface PodEnv extends PodView {
  spec: { containers: { env?: { name: string; value?: string }[] }[] };
}

/** Waits until every cache pod runs with `endpoint` as its OTLP endpoint, Ready, and the KVCluster Ready. */
async function waitTraced(c: ScenarioContext, endpoint: string, timeoutMs: number): Promise<PodEnv[]> {
  return eventually(
    async () => {
      const pods = (await nodePods(c.demo)) as PodEnv[];
      const traced = pods.filter((p) =>
        p.spec.containers[0]!.env?.some(
          (e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT' && e.value === endpoint,
        ),
      );
      if (pods.length !== 3 || traced.length !== 3 || !pods.every(podReady)) return undefined;
      const kvc = await getKvc(c.demo);
      return isReady(kvc) && kvc.status?.updatedReplicas === 3 ? pods : undefined;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `all 3 cache pods running with ${endpoint}, Ready, the KVCluster Ready`,
    },
  );
}

/**
 * An application in the client pod: the OpenTelemetry SDK exporting to
 * Jaeger (service e2e-client), a Set and a Get under a sampled remote parent
 * with our trace id, through the kvring client (which starts client spans
 * and sends the traceparent). Prints the Get's value.
 */
function tracedRequestScript(p: {
  address: string;
  otlp: string;
  traceId: string;
  spanId: string;
  key: string;
  value: string;
}): string {
  return `
import { createRequire } from 'node:module';
import { KvClient } from '/app/client/dist/index.js';
const require = createRequire('/app/node/package.json');
const { trace, context, TraceFlags } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const p = ${JSON.stringify(p)};
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'e2e-client', 'k8s.pod.name': 'e2e-client' }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: p.otlp + '/v1/traces' }))],
});
provider.register();
const parent = trace.setSpanContext(context.active(), {
  traceId: p.traceId, spanId: p.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true,
});
const client = new KvClient([p.address], { timeoutMs: 5000 });
await context.with(parent, () => client.set(p.key, p.value));
const got = await context.with(parent, () => client.get(p.key));
client.close();
await provider.shutdown();
console.log(JSON.stringify({ value: got.value.toString() }));
`;
}

function pods(t: JaegerTrace, service: string): string[] {
  return [
    ...new Set(
      t.spans
        .map((s) => processOf(t, s))
        .filter((p) => p.serviceName === service)
        .map((p) => p.pod),
    ),
  ].sort();
}

export async function tracingScenario(c: ScenarioContext): Promise<void> {
  const r = (line: string) => c.report('12 tracing', line);
  const jaeger = new JaegerApi(c.k);
  const otlp = `http://jaeger.${TRACING_NS}.svc:4318`;

  // --- Jaeger, as the sample deploys it ----------------------------------------
  let t0 = Date.now();
  await c.k.apply(jaegerManifests());
  await c.k
    .in(TRACING_NS)
    .ok(['rollout', 'status', 'deployment/jaeger', '--timeout=180s'], { timeoutMs: 190_000 });
  await eventually(async () => ((await jaeger.services()) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'Jaeger query API answering',
  });
  r(`Jaeger (${JAEGER_IMAGE}, manifests/samples/tracing/10-jaeger.yaml) ready in ${secs(t0)} s`);

  // --- The operator's own tracing, through the chart ------------------------------
  t0 = Date.now();
  const h = await helm(c.env, [
    'upgrade',
    RELEASE,
    CHART,
    '--namespace',
    OPERATOR_NS,
    '--reuse-values',
    '--set',
    'tracing.enabled=true',
    '--set',
    `tracing.endpoint=${otlp}`,
    '--wait',
    '--timeout',
    '180s',
  ]);
  expect({ code: h.code, stderr: h.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  r(`helm upgrade --set tracing.enabled=true,tracing.endpoint=${otlp} --wait: ${secs(t0)} s`);

  // --- spec.tracing on the demo cluster: the sample's KVCluster, applied over the demo ----
  t0 = Date.now();
  const { manifest, samplingRatio } = kvclusterTracing(otlp);
  await c.k.ok(['apply', '-f', '-'], { input: manifest, timeoutMs: 60_000 });
  const traced = await waitTraced(c, otlp, 300_000);
  const env = Object.fromEntries(
    (traced[0]!.spec.containers[0]!.env ?? [])
      .filter((e) => e.name.startsWith('OTEL_'))
      .map((e) => [e.name, e.value]),
  );
  expect(env).toMatchObject({
    OTEL_SERVICE_NAME: 'kvring-node',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(samplingRatio),
  });
  r(
    `kubectl apply -f manifests/samples/tracing/30-kvcluster.yaml (endpoint ${otlp}) to 3 pods rolled with OTEL_* and Ready: ${secs(t0)} s`,
  );

  // --- One request, under a trace the application started --------------------------
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  const key = `e2e:tracing:${Date.now().toString(36)}`;
  t0 = Date.now();
  const run = await script(
    c.demo,
    tracedRequestScript({ address: HEADLESS_ADDRESS, otlp, traceId, spanId, key, value: 'traced' }),
    60_000,
  );
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(run.stdout)).toEqual({ value: 'traced' });
  // Spans leave the nodes in batches: wait for the replicas' spans, not only the coordinator's.
  const trace = await eventually(
    async () => {
      const found = await jaeger.trace(traceId);
      return found && pods(found, 'kvring-node').length >= 2 ? found : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 1000,
      what: `trace ${traceId} in Jaeger with spans from 2 or more cache pods`,
    },
  );
  const nodePodsInTrace = pods(trace, 'kvring-node');
  const ops = [...new Set(trace.spans.map((s) => s.operationName))].sort();
  r(
    `trace ${traceId}: ${trace.spans.length} spans in Jaeger ${secs(t0)} s after the request; ` +
      `cache pods ${nodePodsInTrace.join(', ')}; operations: ${ops.join(', ')}`,
  );
  expect(trace.spans.every((s) => s.traceID === traceId)).toBe(true);
  expect(nodePodsInTrace.length).toBeGreaterThanOrEqual(2);
  for (const p of nodePodsInTrace) expect(p).toMatch(/^demo-[0-2]$/);
  // The application's own client spans are the parents of the coordinator's work.
  expect(pods(trace, 'e2e-client')).toEqual(['e2e-client']);

  // --- The operator's reconciles ----------------------------------------------------
  t0 = Date.now();
  const reconciles = await eventually(
    async () => {
      const found = await jaeger.search('kvring-operator', 'reconcile', { 'kvring.kvcluster.name': 'demo' });
      return found.some((x) => x.spans.length > 1) ? found : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 2000, what: 'reconcile traces of KVCluster demo from kvring-operator' },
  );
  const withCalls = reconciles.filter((x) => x.spans.length > 1);
  const sample = withCalls[0]!;
  const root = sample.spans.find((s) => s.operationName === 'reconcile' && s.references.length === 0)!;
  expect(tag(root.tags, 'k8s.namespace.name')).toBe('kvring-demo');
  expect(['success', 'requeue', 'retry', 'conflict']).toContain(tag(root.tags, 'kvring.reconcile.result'));
  const calls = [...new Set(sample.spans.filter((s) => s !== root).map((s) => s.operationName))].sort();
  expect(calls).toEqual(expect.arrayContaining([expect.stringMatching(/^(GET|PATCH|PUT) /)]));
  const operatorPods = [
    ...new Set(reconciles.flatMap((x) => x.spans.map((s) => processOf(x, s).pod)).filter(Boolean)),
  ];
  r(
    `operator: ${reconciles.length} reconcile traces of demo in Jaeger (found in ${secs(t0)} s), ` +
      `result ${String(tag(root.tags, 'kvring.reconcile.result'))}, ${sample.spans.length} spans in one: ${calls.join(', ')}; ` +
      `from ${operatorPods.join(', ')}; its node probes continued on ${pods(sample, 'kvring-node').join(', ') || 'no cache pod (yet)'}`,
  );
}
