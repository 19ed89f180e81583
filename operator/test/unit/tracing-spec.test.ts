// spec.tracing: the OTEL_* environment the builders give the node pods, and
// the checks that turn a bad value into a Degraded condition naming it.
import { describe, expect, it } from '@jest/globals';
import type { V1EnvVar, V1Secret } from '@kubernetes/client-node';
import { envDetector } from '@opentelemetry/resources';
import { withDefaults, type KVClusterSpec, type TracingSpec } from '../../src/api/types.js';
import { defaultContext } from '../../src/builders/context.js';
import { desiredObjects } from '../../src/builders/desired.js';
import { checkSecrets } from '../../src/reconcile/references.js';
import { checkHeaders, checkTracing } from '../../src/reconcile/tracing-check.js';
import { cluster } from './fixtures.js';

const ENDPOINT = 'http://otel-collector.observability.svc:4318';

function env(spec: Partial<KVClusterSpec>): V1EnvVar[] {
  return desiredObjects(cluster(spec), defaultContext(3)).statefulSet.spec!.template.spec!.containers[0]!
    .env!;
}

function tracingProblem(t: Partial<TracingSpec>) {
  return checkTracing(withDefaults({ ...cluster().spec, tracing: { endpoint: ENDPOINT, ...t } }));
}

/** What a container sees: $(VAR) expanded from the variables before it, as the kubelet does. */
function expand(vars: V1EnvVar[], pod: string, namespace: string, node: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of vars) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field)
      out[e.name] = { 'metadata.name': pod, 'metadata.namespace': namespace, 'spec.nodeName': node }[field]!;
    else if (e.valueFrom?.secretKeyRef)
      out[e.name] = `<secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}>`;
    else out[e.name] = (e.value ?? '').replace(/\$\((\w+)\)/g, (m, v: string) => out[v] ?? m);
  }
  return out;
}

describe('spec.tracing as the pods’ OTEL_* environment', () => {
  it('unset: no OTEL_* variable at all (tracing off)', () => {
    expect(env({}).filter((e) => e.name.startsWith('OTEL_'))).toEqual([]);
  });

  it('set: endpoint, protocol, parent-based ratio sampler, service name kvring-node, headers by reference', () => {
    const vars = expand(
      env({
        tracing: {
          endpoint: 'http://jaeger.tracing.svc:4317',
          protocol: 'grpc',
          samplingRatio: 0.25,
          headersSecret: { name: 'otlp-auth' },
        },
      }),
      'demo-1',
      'shop',
      'worker-7',
    );
    expect(vars).toMatchObject({
      OTEL_SERVICE_NAME: 'kvring-node',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger.tracing.svc:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_EXPORTER_OTLP_HEADERS: '<secret otlp-auth/headers>',
      OTEL_RESOURCE_ATTRIBUTES:
        'k8s.statefulset.name=demo,k8s.namespace.name=shop,k8s.pod.name=demo-1,k8s.node.name=worker-7',
    });
  });

  it('defaults: http/protobuf, 1 request in 100', () => {
    const vars = expand(env({ tracing: { endpoint: ENDPOINT } }), 'demo-0', 'shop', 'n');
    expect(vars.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    expect(vars.OTEL_TRACES_SAMPLER_ARG).toBe('0.01');
    expect(vars.OTEL_EXPORTER_OTLP_HEADERS).toBeUndefined();
  });

  it('user resource attributes come first, sorted and percent-encoded; nothing in them expands', () => {
    const vars = expand(
      env({
        tracing: {
          endpoint: ENDPOINT,
          resourceAttributes: { team: 'a,b=c', 'deployment.environment.name': 'prod $(KVRING_NODE_NAME)' },
        },
      }),
      'demo-2',
      'shop',
      'n1',
    );
    expect(vars.OTEL_RESOURCE_ATTRIBUTES).toBe(
      'deployment.environment.name=prod%20%24(KVRING_NODE_NAME),team=a%2Cb%3Dc,' +
        'k8s.statefulset.name=demo,k8s.namespace.name=shop,k8s.pod.name=demo-2,k8s.node.name=n1',
    );
    // The SDK's own parser reads each attribute back as written.
    const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
    process.env.OTEL_RESOURCE_ATTRIBUTES = vars.OTEL_RESOURCE_ATTRIBUTES;
    try {
      expect(envDetector.detect().attributes).toEqual({
        team: 'a,b=c',
        'deployment.environment.name': 'prod $(KVRING_NODE_NAME)',
        'k8s.statefulset.name': 'demo',
        'k8s.namespace.name': 'shop',
        'k8s.pod.name': 'demo-2',
        'k8s.node.name': 'n1',
      });
    } finally {
      if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
      else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
    }
  });

  it('the downward-API variables come before the value that refers to them', () => {
    const names = env({ tracing: { endpoint: ENDPOINT } }).map((e) => e.name);
    const at = names.indexOf('OTEL_RESOURCE_ATTRIBUTES');
    for (const v of ['KVRING_NODE_NAME', 'K8S_POD_NAMESPACE', 'K8S_NODE_NAME'])
      expect(names.indexOf(v)).toBeLessThan(at);
  });

  it('extraEnv cannot override what spec.tracing sets, and can add what it does not', () => {
    const vars = env({
      tracing: { endpoint: ENDPOINT },
      extraEnv: [
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://elsewhere:4318' },
        { name: 'OTEL_EXPORTER_OTLP_TIMEOUT', value: '5000' },
      ],
    });
    expect(vars.filter((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')).toEqual([
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: ENDPOINT },
    ]);
    expect(vars).toContainEqual({ name: 'OTEL_EXPORTER_OTLP_TIMEOUT', value: '5000' });
  });

  it('turning tracing on or changing the ratio changes the pod template (a rolling update)', () => {
    const hash = (spec: Partial<KVClusterSpec>) =>
      desiredObjects(cluster(spec), defaultContext(3)).statefulSet.metadata!.annotations![
        'kvring.dev/template-hash'
      ];
    const off = hash({});
    const on = hash({ tracing: { endpoint: ENDPOINT } });
    const more = hash({ tracing: { endpoint: ENDPOINT, samplingRatio: 0.5 } });
    expect(new Set([off, on, more]).size).toBe(3);
  });
});

describe('bad tracing values: a condition that names the field and the limit', () => {
  it('accepts good values', () => {
    expect(tracingProblem({})).toBeUndefined();
    expect(
      tracingProblem({ endpoint: 'https://otlp.example.com/otlp', protocol: 'http/json', samplingRatio: 1 }),
    ).toBeUndefined();
  });

  it.each([
    [{ endpoint: 'otel-collector:4317' }, /spec\.tracing\.endpoint .*http:\/\/ or https:\/\//],
    [{ endpoint: 'http://' }, /spec\.tracing\.endpoint \("http:\/\/"\) is not a URL/],
    [{ endpoint: 'http://user:pw@collector:4318' }, /must not carry credentials.*headersSecret/],
    [{ endpoint: 'http://collector:4318/?a=b' }, /no query or fragment/],
    [
      { protocol: 'thrift' as never },
      /spec\.tracing\.protocol must be one of grpc, http\/protobuf, http\/json, got "thrift"/,
    ],
    [
      { protocol: 'grpc' as const },
      /spec\.tracing\.protocol grpc is not supported by the kvring-node image.*http\/protobuf or http\/json.*4318/,
    ],
    [{ samplingRatio: 1.5 }, /spec\.tracing\.samplingRatio must be between 0 and 1 .* got 1\.5/],
    [{ samplingRatio: -0.1 }, /samplingRatio must be between 0 and 1/],
    [
      { resourceAttributes: { 'k8s.pod.name': 'x' } },
      /resourceAttributes\["k8s\.pod\.name"\] is set by the operator/,
    ],
  ])('%j', (t, message) => {
    const p = tracingProblem(t);
    expect(p?.reason).toBe('InvalidTracing');
    expect(p?.message).toMatch(message);
  });

  it('a resource attribute value longer than the SDK takes (it would drop them all)', () => {
    expect(tracingProblem({ resourceAttributes: { team: 'x'.repeat(256) } })?.message).toMatch(
      /resourceAttributes\["team"\] has a value of 256 characters: at most 255 allowed/,
    );
  });
});

describe('the headers Secret', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const spec = withDefaults({
    ...cluster().spec,
    tracing: { endpoint: ENDPOINT, headersSecret: { name: 'otlp', key: 'h' } },
  });
  const check = (value: string | undefined) =>
    checkSecrets(
      spec,
      'shop',
      new Map<string, V1Secret | undefined>([
        ['pg-creds', { metadata: { name: 'pg-creds' }, data: { username: b64('u'), password: b64('p') } }],
        ['otlp', value === undefined ? undefined : { metadata: { name: 'otlp' }, data: { h: b64(value) } }],
      ]),
    ).problem;

  it('missing: SecretNotFound names spec.tracing.headersSecret', () => {
    expect(check(undefined)).toMatchObject({ reason: 'SecretNotFound' });
    expect(check(undefined)!.message).toContain('Secret "otlp" (spec.tracing.headersSecret)');
  });

  it('well formed: no problem', () => {
    expect(check('authorization=Bearer%20abc,x-scope-orgid=shop')).toBeUndefined();
  });

  it('malformed: InvalidTracingHeaders, and the message never quotes the credential', () => {
    const p = check('Bearer sup3rs3cret');
    expect(p).toMatchObject({ reason: 'InvalidTracingHeaders' });
    expect(p!.message).toContain('Secret "otlp" key "h" (spec.tracing.headersSecret)');
    expect(p!.message).not.toContain('sup3rs3cret');
  });

  it.each([
    ['a=b,,c=d', /entry 2 is empty/],
    ['bad header=x', /entry 1 is not name=value/],
    ['authorization=Bearer%zz', /malformed percent-encoding/],
  ])('%s', (value, message) => {
    expect(checkHeaders(value, 'where')?.message).toMatch(message);
  });
});
