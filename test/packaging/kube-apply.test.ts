// The chart and manifests/ against a real kube-apiserver (e2e/harness: etcd
// and kube-apiserver on loopback, RBAC on), with the published CRDs of
// chaos-mesh, the prometheus-operator and cert-manager installed so that
// their objects are checked against the real schemas:
// - every object the chart renders, and install.yaml, pass admission
//   (kubectl apply --dry-run=server --validate=strict);
// - `helm install` creates the operator's objects and the CRD, the built
//   operator runs as the chart's ServiceAccount with the chart's arguments
//   and builds a KVCluster's objects, its cert-manager Certificate included
//   (so the RBAC is enough and cert-manager's schema accepts it), `helm upgrade`
//   works, and `helm uninstall` keeps the CRD and the clusters;
// - the samples, the demo bundle (applied for real, as a user would), the
//   chaos experiments and the monitoring kustomization are accepted.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, eventually } from '@kvring/control-plane';
import { makeCerts } from '@kvring/test-support/certs';
import { CERT_MANAGER, CHAOS_MESH, crdFiles, PROMETHEUS_OPERATOR } from './support/external-crds.js';
import { serviceAccountKubeconfig, startOperator, type OperatorProcess } from './support/operator-process.js';
import {
  ALL_TOGGLES_ON,
  CHART_DIR,
  helmBin,
  helmTemplate,
  MANIFESTS_DIR,
  parseDocs,
  run,
  withoutLinkNotices,
} from './support/tools.js';

let cp: ControlPlane;
let logDir: string;

async function dryRun(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(['apply', '--dry-run=server', '--validate=strict', ...args], {
    ...(input !== undefined && { input }),
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw new Error(`kubectl apply --dry-run=server ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(helmBin(), [...args, `--kubeconfig=${cp.kubeconfigPath}`], { timeoutMs: 180_000 });
  return { ...r, stderr: withoutLinkNotices(r.stderr) };
}

async function exists(args: string[]): Promise<boolean> {
  return (await cp.kubectl(['get', ...args])).code === 0;
}

/** kubectl apply --validate=strict ARGS, as a user runs it: no error, no warning. */
async function applyClean(args: string[]): Promise<void> {
  const r = await cp.kubectl(['apply', '--validate=strict', ...args], { timeoutMs: 120_000 });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
}

/** Which of `objs` (kind/name) do not exist in `ns`. */
async function missing(ns: string, objs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const o of objs) if (!(await exists(['-n', ns, o]))) out.push(o);
  return out;
}

async function ensureNamespace(ns: string): Promise<void> {
  if (!(await exists(['namespace', ns]))) await cp.kubectlOk(['create', 'namespace', ns]);
}

/** The KVCluster CRD, from crds/, unless the chart's install left it. */
async function ensureKvclusterCrd(): Promise<void> {
  if (await exists(['crd', 'kvclusters.kvring.dev'])) return;
  await cp.installCrds();
}

/** How many objects a dry run reported ("<kind>/<name> created (server dry run)"). */
function appliedCount(out: string): number {
  return out.split('\n').filter((l) => /\(server dry run\)$/.test(l.trim())).length;
}

beforeAll(async () => {
  logDir = mkdtempSync(join(tmpdir(), 'kvring-packaging-'));
  cp = await ControlPlane.start({ installCrds: false });
  for (const ns of ['kvring-system', 'apps', 'monitoring', 'cache']) await ensureNamespace(ns);
  const crds = [
    ...(await crdFiles(PROMETHEUS_OPERATOR)),
    ...(await crdFiles(CHAOS_MESH)),
    ...(await crdFiles(CERT_MANAGER)),
  ];
  // create, not apply: the chaos-mesh CRDs exceed client-side apply's annotation limit.
  for (const f of crds) await cp.kubectlOk(['create', '-f', f], { timeoutMs: 120_000 });
  await cp.kubectlOk(['wait', '--for=condition=Established', '--timeout=120s', 'crd', '--all'], {
    timeoutMs: 150_000,
  });
}, 600_000);

afterAll(async () => {
  await cp?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

describe('the chart against a real API server', () => {
  it('renders only objects the API server accepts, with defaults, every toggle on, or one watched namespace', async () => {
    for (const flags of [[], ALL_TOGGLES_ON, ['--set', 'watchNamespace=apps']]) {
      const rendered = await helmTemplate(flags);
      const out = await dryRun(['-f', '-'], rendered);
      expect(appliedCount(out)).toBe(parseDocs(rendered).length);
    }
  });

  it('install.yaml is accepted as it is', async () => {
    const path = join(MANIFESTS_DIR, 'install.yaml');
    const out = await dryRun(['-f', path]);
    expect(appliedCount(out)).toBe(parseDocs(readFileSync(path, 'utf8')).length);
  });

  describe('helm install, the operator as its ServiceAccount, helm upgrade, helm uninstall', () => {
    let operator: OperatorProcess | undefined;

    afterAll(async () => {
      await operator?.stop();
    });

    it('helm install creates the CRD and the operator objects and prints what to do next', async () => {
      const r = await helm([
        'install',
        'kvring-operator',
        CHART_DIR,
        '--namespace=kvring-system',
        '--set=metrics.serviceMonitor.enabled=true',
        '--set=podDisruptionBudget.enabled=true',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('kubectl apply -f manifests/samples/demo/');
      await cp.kubectlOk([
        'wait',
        '--for=condition=Established',
        '--timeout=60s',
        'crd',
        'kvclusters.kvring.dev',
      ]);
      for (const obj of [
        'deployment/kvring-operator',
        'serviceaccount/kvring-operator',
        'service/kvring-operator-metrics',
        'servicemonitor.monitoring.coreos.com/kvring-operator',
        'poddisruptionbudget/kvring-operator',
        'role/kvring-operator-leader-election',
      ])
        expect(await exists(['-n', 'kvring-system', obj])).toBe(true);
      expect(await exists(['clusterrole/kvring-operator'])).toBe(true);
    });

    it('the built operator, as the chart ServiceAccount with the chart arguments, builds a KVCluster', async () => {
      const deployment = JSON.parse(
        await cp.kubectlOk(['-n', 'kvring-system', 'get', 'deployment', 'kvring-operator', '-o', 'json']),
      ) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
      const args = deployment.spec.template.spec.containers[0]!.args;
      const kubeconfig = await serviceAccountKubeconfig(cp, 'kvring-system', 'kvring-operator');
      operator = await startOperator(args, kubeconfig, join(logDir, 'operator.log'));

      const secret = (name: string, ...from: string[]): Promise<string> =>
        cp.kubectlOk(['-n', 'apps', 'create', 'secret', 'generic', name, ...from]);
      await secret('pg', '--from-literal=username=kvring', '--from-literal=password=x');
      // What cert-manager would write from the Certificate (its controller does not run here).
      const certs = makeCerts({ names: ['cache.apps.svc'] });
      await secret(
        'cache-tls',
        `--from-file=tls.crt=${certs.cert}`,
        `--from-file=tls.key=${certs.key}`,
        `--from-file=ca.crt=${certs.caCert}`,
      );
      await cp.kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'kvring.dev/v1alpha1',
          kind: 'KVCluster',
          metadata: { name: 'cache', namespace: 'apps' },
          spec: {
            postgres: { host: 'postgres.apps.svc', credentialsSecret: { name: 'pg' } },
            monitoring: { serviceMonitor: { enabled: true } },
            tls: { secretName: 'cache-tls', issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer' } },
          },
        }),
      });
      const built = [
        'statefulset/cache',
        'service/cache',
        'service/cache-peers',
        'configmap/cache-config',
        'poddisruptionbudget/cache',
        'servicemonitor.monitoring.coreos.com/cache',
        'certificate.cert-manager.io/cache-tls',
      ];
      await eventually(
        async () => {
          const missing: string[] = [];
          for (const o of built) if (!(await exists(['-n', 'apps', o]))) missing.push(o);
          return missing.length === 0 ? true : undefined;
        },
        { timeoutMs: 60_000, what: `the operator to create ${built.join(', ')}\n${operator.child.output()}` },
      );
      // The Certificate cert-manager's schema accepted: the Secret, the issuer, every name members and clients dial.
      const cert = JSON.parse(
        await cp.kubectlOk(['-n', 'apps', 'get', 'certificate', 'cache-tls', '-o', 'json']),
      ) as { spec: { secretName: string; issuerRef: unknown; dnsNames: string[]; usages: string[] } };
      expect(cert.spec).toMatchObject({
        secretName: 'cache-tls',
        issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
        usages: expect.arrayContaining(['server auth', 'client auth']),
      });
      expect(cert.spec.dnsNames).toContain('*.cache-peers.apps.svc.cluster.local');
      expect(cert.spec.dnsNames).toContain('cache.apps.svc');
      // The status is written (kvclusters/status) and the Lease is held.
      await eventually(
        async () => {
          const kvc = JSON.parse(await cp.kubectlOk(['-n', 'apps', 'get', 'kvc', 'cache', '-o', 'json'])) as {
            status?: { observedGeneration?: number };
          };
          return kvc.status?.observedGeneration ? true : undefined;
        },
        { timeoutMs: 30_000, what: 'the KVCluster status' },
      );
      const holder = await cp.kubectlOk([
        '-n',
        'kvring-system',
        'get',
        'lease',
        'kvring-operator',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      expect(holder).toBe('packaging-test');
      // Deleting what the spec no longer asks for needs its own verb.
      await cp.kubectlOk([
        '-n',
        'apps',
        'patch',
        'kvc',
        'cache',
        '--type=merge',
        '-p',
        '{"spec":{"podDisruptionBudget":{"enabled":false}}}',
      ]);
      await eventually(
        async () => ((await exists(['-n', 'apps', 'poddisruptionbudget/cache'])) ? undefined : true),
        {
          timeoutMs: 30_000,
          what: 'the PodDisruptionBudget to be deleted',
        },
      );
      // Not one request was refused.
      const metrics = await (await fetch(operator.metricsUrl)).text();
      expect(
        metrics.split('\n').filter((l) => l.startsWith('kvring_operator_reconcile_errors_total')),
      ).not.toContainEqual(expect.stringMatching(/reason="Forbidden"/));
      expect(operator.child.output()).not.toMatch(/forbidden/i);
      // SIGTERM: a clean stop that hands the Lease back.
      expect(await operator.stop()).toBe(0);
      operator = undefined;
      expect(
        await cp.kubectlOk([
          '-n',
          'kvring-system',
          'get',
          'lease',
          'kvring-operator',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]),
      ).toBe('');
    }, 180_000);

    it('grants the ServiceAccount nothing beyond that', async () => {
      const as = '--as=system:serviceaccount:kvring-system:kvring-operator';
      const canI = async (...a: string[]): Promise<string> =>
        (await cp.kubectl(['auth', 'can-i', ...a, as])).stdout.trim();
      expect(await canI('patch', 'statefulsets', '-n', 'apps')).toBe('yes');
      expect(await canI('update', 'leases', '-n', 'kvring-system')).toBe('yes');
      expect(await canI('update', 'leases', '-n', 'apps')).toBe('no');
      expect(await canI('delete', 'statefulsets', '-n', 'apps')).toBe('no');
      expect(await canI('create', 'secrets', '-n', 'apps')).toBe('no');
      expect(await canI('delete', 'kvclusters', '-n', 'apps')).toBe('no');
      expect(await canI('update', 'kvclusters', '-n', 'apps')).toBe('no');
      expect(await canI('list', 'nodes')).toBe('no');
      expect(await canI('create', 'pods', '-n', 'apps')).toBe('no');
      expect(await canI('patch', 'certificates.cert-manager.io', '-n', 'apps')).toBe('yes');
      expect(await canI('create', 'issuers.cert-manager.io', '-n', 'apps')).toBe('no');
    });

    it('helm upgrade applies new values, to the CRD too', async () => {
      const policy = async (): Promise<string> =>
        cp.kubectlOk([
          'get',
          'crd',
          'kvclusters.kvring.dev',
          '-o',
          "jsonpath={.metadata.annotations['helm\\.sh/resource-policy']}",
        ]);
      expect(await policy()).toBe('keep');
      const upgrade = async (...set: string[]): Promise<void> => {
        const r = await helm([
          'upgrade',
          'kvring-operator',
          CHART_DIR,
          '--namespace=kvring-system',
          '--reuse-values',
          ...set.map((v) => `--set=${v}`),
        ]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      };
      await upgrade('replicaCount=3', 'crds.keep=false');
      expect(
        await cp.kubectlOk([
          '-n',
          'kvring-system',
          'get',
          'deployment',
          'kvring-operator',
          '-o',
          'jsonpath={.spec.replicas}',
        ]),
      ).toBe('3');
      // The CRD is a template of the release: an upgrade changes it.
      expect(await policy()).toBe('');
      await upgrade('crds.keep=true');
      expect(await policy()).toBe('keep');
    });

    it('helm uninstall removes the operator but keeps the CRD and the clusters', async () => {
      const r = await helm(['uninstall', 'kvring-operator', '--namespace=kvring-system']);
      expect(r.code).toBe(0);
      expect(`${r.stdout}${r.stderr}`).toMatch(/kept due to the resource policy/);
      expect(await exists(['crd', 'kvclusters.kvring.dev'])).toBe(true);
      expect(await exists(['-n', 'apps', 'kvc', 'cache'])).toBe(true);
      expect(await exists(['-n', 'kvring-system', 'deployment/kvring-operator'])).toBe(false);
    });
  });
});

describe('manifests/ against a real API server', () => {
  beforeAll(async () => {
    await ensureKvclusterCrd();
  });

  it('the minimal and the production-shaped KVCluster pass the CRD schema and its rules', async () => {
    for (const f of ['minimal.yaml', 'production.yaml']) {
      const out = await dryRun(['-f', join(MANIFESTS_DIR, 'samples', f)]);
      expect(out).toMatch(/kvcluster\.kvring\.dev\/cache (created|configured) \(server dry run\)/);
    }
  });

  it('kubectl apply -f manifests/samples/demo/ creates the whole demo from nothing', async () => {
    await applyClean(['-f', join(MANIFESTS_DIR, 'samples', 'demo')]);
    expect(
      await missing('kvring-demo', [
        'secret/demo-postgres',
        'statefulset/demo-postgres',
        'service/demo-postgres',
        'deployment/demo-legacy',
        'service/demo-legacy',
        'kvcluster/demo',
      ]),
    ).toEqual([]);
  });

  it('kubectl apply -f manifests/samples/tracing/ adds Jaeger, the Collector and spec.tracing to the demo', async () => {
    await applyClean(['-f', join(MANIFESTS_DIR, 'samples', 'tracing')]);
    expect(
      await missing('observability', [
        'deployment/jaeger',
        'service/jaeger',
        'configmap/otel-collector',
        'deployment/otel-collector',
        'service/otel-collector',
      ]),
    ).toEqual([]);
    const kvc = JSON.parse(await cp.kubectlOk(['-n', 'kvring-demo', 'get', 'kvc', 'demo', '-o', 'json'])) as {
      spec: { tracing: Record<string, unknown>; postgres: { host: string }; legacyApi: { url: string } };
    };
    expect(kvc.spec.tracing).toEqual({
      endpoint: 'http://otel-collector.observability.svc:4318',
      protocol: 'http/protobuf',
      samplingRatio: 0.1,
      resourceAttributes: { 'deployment.environment.name': 'demo' },
    });
    // The rest of the demo's spec is as the demo bundle made it.
    expect(kvc.spec.postgres.host).toBe('demo-postgres.kvring-demo.svc');
    expect(kvc.spec.legacyApi.url).toBe('http://demo-legacy.kvring-demo.svc:8090');
  });

  it('the chaos experiments pass the chaos-mesh CRD schemas', async () => {
    await ensureNamespace('kvring-demo');
    const out = await dryRun(['-f', join(MANIFESTS_DIR, 'chaos')]);
    const kinds = out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split('/')[0]);
    expect(kinds.sort()).toEqual(
      [
        'networkchaos.chaos-mesh.org',
        'networkchaos.chaos-mesh.org',
        'podchaos.chaos-mesh.org',
        'podchaos.chaos-mesh.org',
        'schedule.chaos-mesh.org',
        'stresschaos.chaos-mesh.org',
      ].sort(),
    );
  });

  it('the monitoring kustomization (monitors, rules, dashboard) passes the prometheus-operator schemas', async () => {
    const out = await dryRun(['-k', join(MANIFESTS_DIR, 'monitoring')]);
    expect(out).toMatch(/podmonitor\.monitoring\.coreos\.com\/kvring-nodes created \(server dry run\)/);
    expect(out).toMatch(
      /servicemonitor\.monitoring\.coreos\.com\/kvring-operator created \(server dry run\)/,
    );
    expect(out).toMatch(/prometheusrule\.monitoring\.coreos\.com\/kvring created \(server dry run\)/);
    expect(out).toMatch(/configmap\/kvring-grafana-dashboard created \(server dry run\)/);
  });

  it('the monitors select what the chart and the operator deploy', async () => {
    // The PodMonitor's selector matches the labels of the node pods the
    // operator builds; the ServiceMonitor's those of the chart's Service.
    const rendered = parseDocs(await helmTemplate());
    const svc = rendered.find((d) => d.kind === 'Service')!;
    const monitoring = parseDocs(
      await cp.kubectlOk(['kustomize', join(MANIFESTS_DIR, 'monitoring')]),
      'manifests/monitoring',
    );
    const sm = monitoring.find((d) => d.kind === 'ServiceMonitor') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(svc.metadata.labels?.[k]).toBe(v);
    const sts = JSON.parse(
      await cp.kubectlOk(['-n', 'apps', 'get', 'statefulset', 'cache', '-o', 'json']),
    ) as {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: { ports: { name: string }[] }[] };
        };
      };
    };
    const pm = monitoring.find((d) => d.kind === 'PodMonitor') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
    };
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels))
      expect(sts.spec.template.metadata.labels[k]).toBe(v);
    expect(sts.spec.template.spec.containers[0]!.ports.map((p) => p.name)).toContain(
      pm.spec.podMetricsEndpoints[0]!.port,
    );
  });
});
