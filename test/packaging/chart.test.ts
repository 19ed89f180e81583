// The Helm chart without a cluster: lint, rendering with defaults and with
// every toggle, the CRD rendered from crds/ (the single source), the RBAC
// rules from operator/deploy/rbac.yaml, the values schema rejecting wrong
// input, the packaged chart, and values.yaml documented line by line.
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  ALL_TOGGLES_ON,
  CHART_DIR,
  helmBin,
  helmTemplate,
  parseDocs,
  REPO_ROOT,
  run,
  runOk,
  withoutLinkNotices,
  type KubeDoc,
} from './support/tools.js';

const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as {
  appVersion: string;
  version: string;
};

function byKind(docs: KubeDoc[], kind: string): KubeDoc[] {
  return docs.filter((d) => d.kind === kind);
}

function only(docs: KubeDoc[], kind: string): KubeDoc {
  const found = byKind(docs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

interface Container {
  image: string;
  args: string[];
  env: { name: string }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
  volumeMounts: { mountPath: string }[];
}

function operatorContainer(docs: KubeDoc[]): Container {
  const dep = only(docs, 'Deployment') as unknown as {
    spec: { template: { spec: { containers: Container[] } } };
  };
  return dep.spec.template.spec.containers[0]!;
}

/** The rules of the two ClusterRoles in operator/deploy/rbac.yaml, by name. */
function sourceRules(): Record<string, unknown> {
  const docs = parseDocs(readFileSync(join(REPO_ROOT, 'operator', 'deploy', 'rbac.yaml'), 'utf8'));
  return Object.fromEntries(docs.map((d) => [d.metadata.name, d.rules]));
}

describe('helm chart kvring-operator', () => {
  it('passes helm lint --strict with defaults and with every toggle on', async () => {
    for (const flags of [[], ALL_TOGGLES_ON, ['--set', 'watchNamespace=apps']]) {
      const r = await run(helmBin(), ['lint', '--strict', CHART_DIR, ...flags]);
      expect({
        code: r.code,
        problems: r.stdout.split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l)),
      }).toEqual({
        code: 0,
        problems: [],
      });
    }
  });

  it('renders the operator install with defaults: CRD, identity, RBAC, Deployment and metrics Service', async () => {
    const docs = parseDocs(await helmTemplate());
    expect(docs.map((d) => d.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'CustomResourceDefinition',
        'Deployment',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ].sort(),
    );
    const dep = only(docs, 'Deployment') as unknown as {
      spec: { replicas: number; template: { spec: Record<string, unknown> } };
    };
    expect(dep.spec.replicas).toBe(2);
    const c = operatorContainer(docs);
    expect(c.image).toBe(`kvring/operator:${chart.appVersion}`);
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--metrics-bind-address=0.0.0.0:8080',
        '--leader-election-id=kvring-operator',
        '--leader-election-namespace=kvring-system',
      ]),
    );
    expect(c.args).not.toContain('--no-leader-elect');
    expect(c.env.map((e) => e.name)).toContain('POD_NAMESPACE');
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(c.volumeMounts.map((m) => m.mountPath)).toEqual(['/tmp']);
    expect(dep.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
    });
    expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).toEqual(['/healthz', '/readyz']);
    // Nothing optional by default.
    expect(byKind(docs, 'ServiceMonitor')).toEqual([]);
    expect(byKind(docs, 'PodDisruptionBudget')).toEqual([]);
  });

  it('renders the ServiceMonitor and the PodDisruptionBudget when turned on', async () => {
    const docs = parseDocs(await helmTemplate(ALL_TOGGLES_ON));
    const sm = only(docs, 'ServiceMonitor') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const svc = only(docs, 'Service') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { ports: { name: string }[] };
    };
    // The ServiceMonitor selects the metrics Service, on its port.
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(svc.spec.ports.map((p) => p.name)).toContain(sm.spec.endpoints[0]!.port);
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(
      (only(docs, 'PodDisruptionBudget') as unknown as { spec: { minAvailable: number } }).spec.minAvailable,
    ).toBe(1);
  });

  it('renders the KVCluster CRD from crds/ unchanged, kept on uninstall unless told otherwise', async () => {
    const source = parse(
      readFileSync(join(REPO_ROOT, 'crds', 'kvring.dev_kvclusters.yaml'), 'utf8'),
    ) as KubeDoc;
    expect(readdirSync(join(REPO_ROOT, 'crds')).filter((f) => f.endsWith('.yaml'))).toHaveLength(1);
    const crd = only(parseDocs(await helmTemplate()), 'CustomResourceDefinition');
    expect(crd.spec).toEqual(source.spec);
    expect(crd.metadata.name).toBe(source.metadata.name);
    expect(crd.metadata.labels).toMatchObject(source.metadata.labels ?? {});
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');

    const notKept = only(
      parseDocs(await helmTemplate(['--set', 'crds.keep=false'])),
      'CustomResourceDefinition',
    );
    expect(notKept.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    expect(
      byKind(parseDocs(await helmTemplate(['--set', 'crds.install=false'])), 'CustomResourceDefinition'),
    ).toEqual([]);
  });

  it('grants exactly the rules of operator/deploy/rbac.yaml, bound to its ServiceAccount', async () => {
    const rules = sourceRules();
    const docs = parseDocs(await helmTemplate());
    const sa = only(docs, 'ServiceAccount');
    expect(only(docs, 'ClusterRole').rules).toEqual(rules['kvring-operator']);
    const lease = only(docs, 'Role');
    expect(lease.rules).toEqual(rules['kvring-operator-leader-election']);
    expect(lease.metadata.namespace).toBe('kvring-system');
    for (const b of [...byKind(docs, 'ClusterRoleBinding'), ...byKind(docs, 'RoleBinding')]) {
      expect(b.subjects).toEqual([
        { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'kvring-system' },
      ]);
    }
    const dep = only(docs, 'Deployment') as unknown as {
      spec: { template: { spec: { serviceAccountName: string } } };
    };
    expect(dep.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
  });

  it('limits the permissions to one namespace with watchNamespace', async () => {
    const docs = parseDocs(await helmTemplate(['--set', 'watchNamespace=apps']));
    expect(byKind(docs, 'ClusterRole')).toEqual([]);
    expect(byKind(docs, 'ClusterRoleBinding')).toEqual([]);
    const roles = byKind(docs, 'Role');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['apps', 'kvring-system']);
    expect(roles.find((r) => r.metadata.namespace === 'apps')!.rules).toEqual(
      sourceRules()['kvring-operator'],
    );
    expect(operatorContainer(docs).args).toContain('--namespace=apps');
  });

  it('runs one replica without leader election when told, and then grants no Lease', async () => {
    const docs = parseDocs(
      await helmTemplate(['--set', 'leaderElection.enabled=false', '--set', 'replicaCount=1']),
    );
    expect(operatorContainer(docs).args).toContain('--no-leader-elect');
    expect(byKind(docs, 'Role')).toEqual([]);
  });

  it('turns the operator’s tracing on with the standard OTEL_* variables, and leaves them out by default', async () => {
    expect(operatorContainer(parseDocs(await helmTemplate())).env.map((e) => e.name)).toEqual([
      'POD_NAMESPACE',
    ]);
    const docs = parseDocs(
      await helmTemplate([
        '--set',
        'tracing.enabled=true',
        '--set',
        'tracing.endpoint=http://otel-collector.observability.svc:4317',
        '--set',
        'tracing.protocol=grpc',
        '--set',
        'tracing.samplingRatio=0.5',
        '--set',
        'tracing.headersSecret.name=otlp-auth',
        '--set',
        'tracing.resourceAttributes.deployment\\.environment\\.name=prod',
      ]),
    );
    const env = operatorContainer(docs).env as {
      name: string;
      value?: string;
      valueFrom?: { secretKeyRef?: { name: string; key: string } };
    }[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(
      Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value])),
    ).toEqual({
      OTEL_SERVICE_NAME: 'kvring-operator',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability.svc:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
      OTEL_RESOURCE_ATTRIBUTES:
        'deployment.environment.name=prod,k8s.deployment.name=kvring-operator,' +
        'k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)',
    });
    expect(byName.OTEL_EXPORTER_OTLP_HEADERS!.valueFrom).toEqual({
      secretKeyRef: { name: 'otlp-auth', key: 'headers' },
    });
    // $(VAR) expands only from variables listed before it.
    const names = env.map((e) => e.name);
    for (const v of ['POD_NAMESPACE', 'POD_NAME'])
      expect(names.indexOf(v)).toBeLessThan(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
  });

  it('rejects values of the wrong type or unknown keys, naming the value', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'replicaCount=two'], /replicaCount/],
      [['--set', 'operator.logLevl=debug'], /logLevl/],
      [['--set', 'leaderElection.leaseDuration=15'], /leaseDuration/],
      [['--set', 'image.pullPolicy=Sometimes'], /pullPolicy/],
      [['--set', 'metrics.port=70000'], /port/],
      [['--set', 'crds.install=yes'], /install/],
      // The operator's tracing: what it would refuse at start, refused here first.
      [['--set', 'tracing.enabled=true'], /endpoint/],
      [['--set', 'tracing.endpoint=collector:4317'], /endpoint/],
      [['--set', 'tracing.protocol=thrift'], /protocol/],
      [['--set', 'tracing.samplingRatio=2'], /samplingRatio/],
      [['--set', 'tracing.resourceAttributes.team=a\\,b'], /team/],
    ];
    for (const [flags, message] of cases) {
      const err = await helmTemplate(flags).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(err).toMatch(/schema/);
      expect(err).toMatch(message);
    }
  });

  it('packages into a chart that holds the CRD and RBAC sources and renders the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvring-chart-'));
    try {
      const r = await run(helmBin(), ['package', CHART_DIR, '--destination', dir]);
      expect(withoutLinkNotices(r.stderr)).toBe('');
      expect(r.code).toBe(0);
      const tgz = join(dir, `kvring-operator-${chart.version}.tgz`);
      const listing = (await runOk('tar', ['tzf', tgz])).split('\n');
      expect(listing).toEqual(
        expect.arrayContaining([
          'kvring-operator/crds-src/kvring.dev_kvclusters.yaml',
          'kvring-operator/rbac-src/rbac.yaml',
          'kvring-operator/values.schema.json',
          'kvring-operator/templates/NOTES.txt',
        ]),
      );
      expect(await helmTemplate([], { chart: tgz })).toBe(await helmTemplate());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents every key of values.yaml on the line above it', () => {
    // Children of Kubernetes objects passed through as they are (resources,
    // security contexts) are documented as a block.
    const passThrough = new Set(['resources', 'podSecurityContext', 'securityContext']);
    const lines = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    const undocumented: string[] = [];
    let previous = '';
    let topLevel = '';
    for (const [i, line] of lines.entries()) {
      const key = /^(\s*)([A-Za-z][A-Za-z0-9]*):/.exec(line);
      if (key) {
        if (key[1] === '') topLevel = key[2]!;
        const exempt = key[1] !== '' && passThrough.has(topLevel);
        if (!exempt && !previous.trimStart().startsWith('#')) undocumented.push(`${i + 1}: ${line.trim()}`);
      }
      if (line.trim() !== '') previous = line;
    }
    expect(undocumented).toEqual([]);
    // And the schema knows every top-level key.
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
    };
    const values = parse(lines.join('\n')) as Record<string, unknown>;
    expect(Object.keys(values).sort()).toEqual(Object.keys(schema.properties).sort());
  });
});
