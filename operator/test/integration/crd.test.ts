// The KVCluster CRD against a real kube-apiserver: what `kubectl explain`
// shows, the defaults, and that every CEL rule rejects its bad spec with
// its message (through apply and through the scale subresource).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ControlPlane } from '@kvring/control-plane';

let cp: ControlPlane;
const NS = 'crd-test';

beforeAll(async () => {
  cp = await ControlPlane.start();
  await cp.kubectlOk(['create', 'namespace', NS]);
}, 180_000);

afterAll(async () => {
  await cp?.stop();
});

interface Spec {
  [k: string]: unknown;
}

function manifest(name: string, spec: Spec): string {
  return JSON.stringify({
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace: NS },
    spec: { postgres: { host: 'pg', credentialsSecret: { name: 'pg' } }, ...spec },
  });
}

async function apply(name: string, spec: Spec): Promise<{ code: number; out: string }> {
  const r = await cp.kubectl(['apply', '-f', '-'], { input: manifest(name, spec) });
  return { code: r.code, out: r.stderr + r.stdout };
}

describe('KVCluster CRD', () => {
  it('kubectl explain prints the field descriptions', async () => {
    const out = await cp.kubectlOk(['explain', 'kvc.spec.replicas']);
    expect(out).toContain('KIND:       KVCluster');
    expect(out).toContain('Number of cache nodes (pods of the StatefulSet)');
    const spec = await cp.kubectlOk(['explain', 'kvc.spec']);
    for (const field of [
      'replicationFactor',
      'readQuorum',
      'writeQuorum',
      'postgres',
      'legacyApi',
      'podDisruptionBudget',
    ])
      expect(spec).toContain(field);
  });

  it('fills in the defaults of a minimal spec', async () => {
    expect((await apply('minimal', {})).code).toBe(0);
    const obj = JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'kvc', 'minimal', '-o', 'json'])) as {
      spec: Spec;
    };
    expect(obj.spec).toMatchObject({
      replicas: 3,
      replicationFactor: 3,
      readQuorum: 2,
      writeQuorum: 2,
      image: 'kvring/node:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      cache: { maxMemory: '256Mi', defaultTTL: '0s' },
      postgres: {
        host: 'pg',
        port: 5432,
        database: 'kvring',
        table: 'kv_store',
        credentialsSecret: { name: 'pg', usernameKey: 'username', passwordKey: 'password' },
      },
      podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
      monitoring: { serviceMonitor: { enabled: false, interval: '30s' } },
      shutdownTimeoutSeconds: 20,
    });
  });

  it('fills in the tracing defaults: http/protobuf, 1 request in 100, the headers key', async () => {
    const tracing = {
      endpoint: 'http://otel-collector.observability.svc:4318',
      headersSecret: { name: 'otlp' },
    };
    expect((await apply('traced', { tracing })).code).toBe(0);
    const obj = JSON.parse(await cp.kubectlOk(['-n', NS, 'get', 'kvc', 'traced', '-o', 'json'])) as {
      spec: Spec;
    };
    expect(obj.spec.tracing).toEqual({
      ...tracing,
      protocol: 'http/protobuf',
      samplingRatio: 0.01,
      headersSecret: { name: 'otlp', key: 'headers' },
    });
    expect(await cp.kubectlOk(['explain', 'kvc.spec.tracing.samplingRatio'])).toContain(
      'parentbased_traceidratio',
    );
  });

  it('lists clusters with replicas, ready, status and age columns (short name kvc)', async () => {
    const out = await cp.kubectlOk(['-n', NS, 'get', 'kvc']);
    expect(out.split('\n')[0]).toMatch(/^NAME\s+REPLICAS\s+READY\s+STATUS\s+AGE/);
    expect(out).toContain('minimal');
  });

  const rejected: [string, Spec, string][] = [
    ['W > N', { writeQuorum: 4 }, 'writeQuorum (W) must not exceed replicationFactor (N)'],
    ['R > N', { readQuorum: 4 }, 'readQuorum (R) must not exceed replicationFactor (N)'],
    [
      'R + W <= N',
      { readQuorum: 1, writeQuorum: 1 },
      'readQuorum + writeQuorum must exceed replicationFactor (R + W > N)',
    ],
    ['N > replicas', { replicas: 2 }, 'replicationFactor (N) must not exceed replicas'],
    [
      'maxUnavailable breaking the write quorum',
      { podDisruptionBudget: { maxUnavailable: 2 } },
      'podDisruptionBudget.maxUnavailable must not exceed replicationFactor - writeQuorum (N - W)',
    ],
    [
      'both Postgres secrets',
      { postgres: { host: 'pg', credentialsSecret: { name: 'a' }, urlSecret: { name: 'b' } } },
      'postgres: set exactly one of credentialsSecret',
    ],
    ['no Postgres secret', { postgres: { host: 'pg' } }, 'postgres: set exactly one of credentialsSecret'],
    [
      'credentials without host',
      { postgres: { credentialsSecret: { name: 'a' } } },
      'postgres.host is required with postgres.credentialsSecret',
    ],
    [
      'a legacy path without {key}',
      { legacyApi: { url: 'http://legacy', pathTemplate: '/data' } },
      'legacyApi.pathTemplate must contain {key}',
    ],
    ['a cache below 1Mi', { cache: { maxMemory: '512Ki' } }, 'cache.maxMemory must be at least 1Mi'],
    [
      'tracing without an endpoint',
      { tracing: { samplingRatio: 0.5 } },
      'spec.tracing.endpoint: Required value',
    ],
    [
      'a tracing endpoint that is not http(s)',
      { tracing: { endpoint: 'otel-collector:4317' } },
      'spec.tracing.endpoint: Invalid value: "otel-collector:4317"',
    ],
    [
      'a tracing endpoint without a host',
      { tracing: { endpoint: 'http://:4318' } },
      'tracing.endpoint must be a URL with a host',
    ],
    [
      'a tracing endpoint with credentials',
      { tracing: { endpoint: 'http://u:p@collector:4318' } },
      'tracing.endpoint must not carry credentials',
    ],
    [
      'an unknown tracing protocol',
      { tracing: { endpoint: 'http://c:4318', protocol: 'thrift' } },
      'supported values: "grpc", "http/protobuf", "http/json"',
    ],
    [
      'a sampling ratio above 1',
      { tracing: { endpoint: 'http://c:4318', samplingRatio: 1.5 } },
      'spec.tracing.samplingRatio: Invalid value: 1.5: spec.tracing.samplingRatio in body should be less than or equal to 1',
    ],
    [
      'a resource attribute the operator sets',
      { tracing: { endpoint: 'http://c:4318', resourceAttributes: { 'k8s.pod.name': 'x' } } },
      'k8s.statefulset.name are set by the operator',
    ],
  ];

  it.each(rejected)('rejects %s with its message', async (_what, spec, message) => {
    const r = await apply('bad', spec);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(message);
  });

  it('rejects a name that cannot name the StatefulSet and its Services', async () => {
    const r = await apply('x'.repeat(53), {});
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('metadata.name must be a DNS label of at most 52 characters');
  });

  it('refuses to change replicationFactor after creation', async () => {
    expect((await apply('fixed-n', { replicas: 5 })).code).toBe(0);
    const r = await apply('fixed-n', { replicas: 5, replicationFactor: 5, readQuorum: 3, writeQuorum: 3 });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('replicationFactor cannot be changed after creation');
    // Other fields still change.
    expect((await apply('fixed-n', { replicas: 6 })).code).toBe(0);
  });

  it('kubectl scale goes through the scale subresource, and the rules still hold', async () => {
    expect((await apply('scalable', {})).code).toBe(0);
    await cp.kubectlOk(['-n', NS, 'scale', 'kvc', 'scalable', '--replicas=5']);
    const replicas = await cp.kubectlOk([
      '-n',
      NS,
      'get',
      'kvc',
      'scalable',
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    expect(replicas).toBe('5');
    const r = await cp.kubectl(['-n', NS, 'scale', 'kvc', 'scalable', '--replicas=2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicationFactor (N) must not exceed replicas');
    const scale = JSON.parse(
      await cp.kubectlOk([
        'get',
        '--raw',
        `/apis/kvring.dev/v1alpha1/namespaces/${NS}/kvclusters/scalable/scale`,
      ]),
    ) as { kind: string; spec: { replicas: number } };
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 5 } });
  });
});
