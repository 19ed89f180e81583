// Tracing with the real things: a kube-apiserver and a Jaeger (cmd/jaeger
// v1.75.0, built by scripts/jaeger/build.sh, OTLP in on loopback), and the
// built operator as a process configured by OTEL_* variables only, as the
// chart's Deployment runs it:
// - spec.tracing becomes pod-template env the API server accepts, and bad
//   values become a Degraded condition naming the field (never the secret);
// - every reconcile is one trace in Jaeger with its result and the
//   Kubernetes API calls it made, and the log lines written inside it
//   carry its trace_id;
// - the sampler is honoured (ratio 0 exports nothing), and a malformed
//   OTEL_* variable stops the operator at start, naming it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, REPO_ROOT, eventually, freePort, run } from '@kvring/control-plane';
import { startJaeger, tagOf, type Jaeger, type JaegerTrace } from '@kvring/devcluster/jaeger';
import { Child } from '@kvring/devcluster/process';
import type { KVCluster } from '../../src/api/types.js';

const MAIN = join(REPO_ROOT, 'operator', 'dist', 'main.js');
const NS = 'traced';
const QUIET_NS = 'unsampled';
const HEADER_SECRET_VALUE = 'authorization=Bearer%20s3cr3t-t0ken';

let cp: ControlPlane;
let jaeger: Jaeger;
let logDir: string;
const operators: Child[] = [];

/** The built operator, watching `namespace`, with `otel` as its environment. */
async function startOperator(namespace: string, otel: Record<string, string>): Promise<Child> {
  const child = new Child({
    name: `operator-${namespace}`,
    command: process.execPath,
    args: [
      MAIN,
      `--kubeconfig=${cp.kubeconfigPath}`,
      '--no-leader-elect',
      `--namespace=${namespace}`,
      `--metrics-bind-address=127.0.0.1:${await freePort()}`,
      `--identity=tracing-test-${namespace}`,
    ],
    env: otel,
    logFile: join(logDir, `operator-${namespace}.log`),
  });
  child.start();
  operators.push(child);
  return child;
}

async function apply(obj: unknown): Promise<void> {
  await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(obj) });
}

function kvcluster(namespace: string, name: string, tracing?: Record<string, unknown>): unknown {
  return {
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace },
    spec: {
      postgres: { host: 'pg.db.svc', credentialsSecret: { name: 'pg-creds' } },
      ...(tracing && { tracing }),
    },
  };
}

function secret(namespace: string, name: string, data: Record<string, string>): unknown {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data };
}

async function cluster(namespace: string, name: string): Promise<KVCluster> {
  return JSON.parse(await cp.kubectlOk(['-n', namespace, 'get', 'kvc', name, '-o', 'json'])) as KVCluster;
}

async function degraded(name: string): Promise<{ reason: string; message: string }> {
  return eventually(
    async () => {
      const d = (await cluster(NS, name)).status?.conditions?.find((c) => c.type === 'Degraded');
      return d?.status === 'True' ? d : undefined;
    },
    { what: `${name} Degraded`, timeoutMs: 30_000 },
  );
}

/** Reconcile traces of cluster `name` in Jaeger holding a root span with `tags`. */
function reconciles(name: string, tags: Record<string, string> = {}): Promise<JaegerTrace[]> {
  return jaeger.eventually(async () => {
    const found = await jaeger.search(
      'kvring-operator',
      { 'kvring.kvcluster.name': name, ...tags },
      'reconcile',
    );
    return found.length > 0 ? found : undefined;
  });
}

beforeAll(async () => {
  logDir = mkdtempSync(join(tmpdir(), 'kvring-operator-tracing-'));
  [cp, jaeger] = await Promise.all([ControlPlane.start(), startJaeger()]);
  for (const ns of [NS, QUIET_NS]) {
    await cp.kubectlOk(['create', 'namespace', ns]);
    await apply(secret(ns, 'pg-creds', { username: 'kvring', password: 'x' }));
  }
  await apply(secret(NS, 'otlp-auth', { headers: 'authorization=Bearer%20abc,x-scope-orgid=shop' }));
  await apply(secret(NS, 'otlp-bad', { headers: HEADER_SECRET_VALUE.replace('=', ' ') }));
  await startOperator(NS, {
    OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '1',
    OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=operator-0',
  });
}, 240_000);

afterAll(async () => {
  await Promise.all(operators.map((o) => o.stop(15_000)));
  await jaeger?.stop();
  await cp?.stop();
});

describe('spec.tracing through the real API server', () => {
  it('becomes pod-template env the API server accepts: OTEL_* with the headers by reference', async () => {
    await apply(
      kvcluster(NS, 'shop', {
        endpoint: 'http://otel-collector.observability.svc:4318',
        samplingRatio: 0.2,
        headersSecret: { name: 'otlp-auth' },
        resourceAttributes: { 'deployment.environment.name': 'test' },
      }),
    );
    const env = await eventually(
      async () => {
        const r = await cp.kubectl(['-n', NS, 'get', 'statefulset', 'shop', '-o', 'json']);
        if (r.code !== 0) return undefined;
        const sts = JSON.parse(r.stdout) as {
          spec: {
            template: {
              spec: {
                containers: {
                  env: { name: string; value?: string; valueFrom?: Record<string, unknown> }[];
                }[];
              };
            };
          };
        };
        return sts.spec.template.spec.containers[0]!.env;
      },
      { what: 'StatefulSet shop', timeoutMs: 30_000 },
    );
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.OTEL_EXPORTER_OTLP_ENDPOINT?.value).toBe('http://otel-collector.observability.svc:4318');
    expect(byName.OTEL_EXPORTER_OTLP_PROTOCOL?.value).toBe('http/protobuf');
    expect(byName.OTEL_TRACES_SAMPLER_ARG?.value).toBe('0.2');
    expect(byName.OTEL_SERVICE_NAME?.value).toBe('kvring-node');
    expect(byName.OTEL_EXPORTER_OTLP_HEADERS?.valueFrom).toEqual({
      secretKeyRef: { name: 'otlp-auth', key: 'headers' },
    });
    expect(byName.OTEL_RESOURCE_ATTRIBUTES?.value).toBe(
      'deployment.environment.name=test,k8s.statefulset.name=shop,k8s.namespace.name=$(K8S_POD_NAMESPACE),' +
        'k8s.pod.name=$(KVRING_NODE_NAME),k8s.node.name=$(K8S_NODE_NAME)',
    );
  });

  it('bad values hold the cluster in Degraded with the field to fix, and never quote the headers', async () => {
    await apply(kvcluster(NS, 'wrong-protocol', { endpoint: 'http://c:4317', protocol: 'grpc' }));
    await apply(
      kvcluster(NS, 'bad-headers', { endpoint: 'http://c:4318', headersSecret: { name: 'otlp-bad' } }),
    );
    await apply(
      kvcluster(NS, 'no-headers', { endpoint: 'http://c:4318', headersSecret: { name: 'absent' } }),
    );
    const protocol = await degraded('wrong-protocol');
    expect(protocol).toMatchObject({ reason: 'InvalidTracing' });
    expect(protocol.message).toContain(
      'spec.tracing.protocol grpc is not supported by the kvring-node image',
    );
    const headers = await degraded('bad-headers');
    expect(headers).toMatchObject({ reason: 'InvalidTracingHeaders' });
    expect(headers.message).toContain('Secret "otlp-bad" key "headers" (spec.tracing.headersSecret)');
    expect(headers.message).not.toContain('s3cr3t');
    expect(await degraded('no-headers')).toMatchObject({ reason: 'SecretNotFound' });
    // Held: no pods are started with settings they could not use.
    for (const name of ['wrong-protocol', 'bad-headers', 'no-headers'])
      expect((await cp.kubectl(['-n', NS, 'get', 'statefulset', name])).code).not.toBe(0);
  });
});

describe('the operator’s own spans in a real Jaeger', () => {
  it('each reconcile is a trace: cluster, result, and a client span per Kubernetes API call', async () => {
    // The first reconcile creates the objects; each one applies them all.
    const full = await jaeger.eventually(async () =>
      (await reconciles('shop')).find((t) => t.spans.some((s) => s.operationName === 'PATCH statefulsets')),
    );
    const root = full.spans.find((s) => s.operationName === 'reconcile')!;
    expect(root.references).toEqual([]);
    expect(tagOf(root, 'k8s.namespace.name')).toBe(NS);
    expect(tagOf(root, 'kvring.reconcile.result')).toBe('requeue');
    expect(tagOf(root, 'kvring.reconcile.requeue')).toBe(true);
    expect(full.processes[root.processID]).toMatchObject({ serviceName: 'kvring-operator' });
    expect(full.processes[root.processID]!.tags).toContainEqual({
      key: 'k8s.pod.name',
      type: 'string',
      value: 'operator-0',
    });
    const children = full.spans.filter((s) => s !== root);
    for (const c of children)
      expect(c.references).toEqual([{ refType: 'CHILD_OF', traceID: full.traceID, spanID: root.spanID }]);
    const names = new Set(children.map((c) => c.operationName));
    for (const n of ['GET secrets', 'PATCH configmaps', 'PATCH services', 'PATCH statefulsets'])
      expect(names).toContain(n);
    const patch = children.find((c) => c.operationName === 'PATCH statefulsets')!;
    // 201 when that apply created the StatefulSet, 200 after.
    expect([200, 201]).toContain(tagOf(patch, 'http.response.status_code'));
    expect(tagOf(patch, 'url.path')).toBe(`/apis/apps/v1/namespaces/${NS}/statefulsets/shop`);
  });

  it('a held reconcile is a trace with result retry and the reason; its log line carries the trace_id', async () => {
    const [held] = await reconciles('bad-headers', { 'kvring.reconcile.reason': 'InvalidTracingHeaders' });
    const root = held!.spans.find((s) => s.operationName === 'reconcile')!;
    expect(tagOf(root, 'kvring.reconcile.result')).toBe('retry');
    // The operator's log line for that problem names the trace it belongs to.
    const lines = operators[0]!
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { cluster?: string; trace_id?: string; span_id?: string });
    const logged = lines.filter((l) => l.cluster === `${NS}/bad-headers` && l.trace_id);
    expect(logged.length).toBeGreaterThan(0);
    const fromLog = await jaeger.eventually(() => jaeger.trace(logged[0]!.trace_id!));
    expect(fromLog.spans.map((s) => s.spanID)).toContain(logged[0]!.span_id);
    expect(fromLog.spans.find((s) => s.operationName === 'reconcile')).toBeDefined();
  });

  it('honours the sampler: at ratio 0 a reconciling operator exports nothing', async () => {
    const quiet = await startOperator(QUIET_NS, {
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
      OTEL_SERVICE_NAME: 'kvring-operator-unsampled',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    });
    await apply(kvcluster(QUIET_NS, 'quiet'));
    await eventually(
      async () => ((await cluster(QUIET_NS, 'quiet')).status?.observedGeneration ? true : undefined),
      {
        what: 'the unsampled operator to reconcile quiet',
      },
    );
    // SIGTERM exports whatever the operator buffered before it exits.
    expect(await quiet.stop(15_000)).toBe(0);
    // A control that the pipeline delivers: a reconcile of the sampled
    // operator, started after that exit, reaches Jaeger; anything the
    // unsampled one sent went through the same receiver before it.
    const stoppedUs = Date.now() * 1000;
    await cp.kubectlOk(['-n', NS, 'annotate', 'kvc', 'shop', `example.com/poke=${stoppedUs}`, '--overwrite']);
    await jaeger.eventually(async () =>
      (await reconciles('shop')).find((t) =>
        t.spans.some((s) => (s as unknown as { startTime: number }).startTime > stoppedUs),
      ),
    );
    expect(await jaeger.search('kvring-operator-unsampled', {})).toEqual([]);
  });

  it('a malformed OTEL_* variable stops the operator at start, naming it', async () => {
    const r = await run(
      process.execPath,
      [MAIN, `--kubeconfig=${cp.kubeconfigPath}`, '--no-leader-elect', '--metrics-bind-address=127.0.0.1:0'],
      {
        env: {
          ...process.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift',
        },
        timeoutMs: 30_000,
      },
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('OTEL_EXPORTER_OTLP_PROTOCOL: expected one of grpc, http/protobuf, http/json');
  });
});
