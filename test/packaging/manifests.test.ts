// manifests/ without a cluster: every YAML file parses into Kubernetes
// objects, install.yaml is what the chart renders today, the samples and the
// chaos experiments aim at the objects they mean, and the Grafana dashboard
// is well formed (Grafana publishes no schema: checked structurally).
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { allPanels, dashboard } from './support/monitoring.js';
import { MANIFESTS_DIR, parseDocs, REPO_ROOT, runOk, type KubeDoc } from './support/tools.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function docsOf(path: string): KubeDoc[] {
  return parseDocs(readFileSync(path, 'utf8'), relative(REPO_ROOT, path));
}

/** Every workload runs as the non-root user 65532 with a read-only root filesystem. */
function expectHardened(docs: KubeDoc[]): void {
  type PodSpec = {
    securityContext: Record<string, unknown>;
    containers: { securityContext: Record<string, unknown> }[];
  };
  for (const d of docs.filter((x) => x.kind === 'StatefulSet' || x.kind === 'Deployment')) {
    const spec = (d as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
    expect({ workload: d.metadata.name, pod: spec.securityContext }).toMatchObject({
      workload: d.metadata.name,
      pod: { runAsNonRoot: true, runAsUser: 65532 },
    });
    for (const c of spec.containers)
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
  }
}

describe('manifests/', () => {
  it('every YAML file parses, and every document is an object with apiVersion, kind and name', () => {
    const files = yamlFiles(MANIFESTS_DIR);
    expect(files.length).toBeGreaterThanOrEqual(15);
    const bad: string[] = [];
    for (const f of files) {
      const docs = docsOf(f);
      if (docs.length === 0) bad.push(`${relative(REPO_ROOT, f)}: no document`);
      for (const d of docs) {
        const isKustomization = d.kind === 'Kustomization';
        if (!d.apiVersion || !d.kind || (!isKustomization && !d.metadata?.name))
          bad.push(`${relative(REPO_ROOT, f)}: ${JSON.stringify(d).slice(0, 80)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('install.yaml is what scripts/render-install.sh renders from the chart now (run make manifests)', async () => {
    const fresh = await runOk('bash', [join(REPO_ROOT, 'scripts', 'render-install.sh'), '--stdout']);
    expect(readFileSync(join(MANIFESTS_DIR, 'install.yaml'), 'utf8')).toBe(fresh);
  });

  it('the demo bundle is self-contained: its KVCluster names the Secret, Service and legacy API it ships', () => {
    const docs = readdirSync(join(MANIFESTS_DIR, 'samples', 'demo'))
      .sort()
      .flatMap((f) => docsOf(join(MANIFESTS_DIR, 'samples', 'demo', f)));
    // Applied in file order: the Namespace comes first.
    expect(docs[0]!.kind).toBe('Namespace');
    const ns = docs[0]!.metadata.name;
    for (const d of docs.slice(1)) expect(d.metadata.namespace).toBe(ns);
    const kvc = docs.find((d) => d.kind === 'KVCluster') as unknown as {
      spec: { postgres: { host: string; credentialsSecret: { name: string } }; legacyApi: { url: string } };
    };
    const names = (kind: string): string[] => docs.filter((d) => d.kind === kind).map((d) => d.metadata.name);
    expect(names('Secret')).toContain(kvc.spec.postgres.credentialsSecret.name);
    expect(kvc.spec.postgres.host).toBe(`${names('Service').find((n) => n.includes('postgres'))}.${ns}.svc`);
    expect(kvc.spec.legacyApi.url).toMatch(
      new RegExp(`^http://${names('Service').find((n) => n.includes('legacy'))}\\.${ns}\\.svc:`),
    );
    // Every pod runs as the images' non-root user with a read-only root.
    expectHardened(docs);
  });

  it('the tracing sample wires the demo KVCluster to the Collector, and the Collector to Jaeger', () => {
    const dir = join(MANIFESTS_DIR, 'samples', 'tracing');
    const docs = readdirSync(dir)
      .sort()
      .flatMap((f) => docsOf(join(dir, f)));
    expect(docs[0]!.kind).toBe('Namespace');
    const ns = docs[0]!.metadata.name;
    const demo = docsOf(join(MANIFESTS_DIR, 'samples', 'demo', '30-kvcluster.yaml'))[0]!;
    const kvc = docs.find((d) => d.kind === 'KVCluster') as unknown as {
      metadata: { name: string; namespace: string };
      spec: Record<string, unknown> & { tracing: { endpoint: string; protocol: string } };
    };
    // The demo's KVCluster, the same in every field but spec.tracing: applied
    // over the running demo it changes only that.
    const { tracing: _added, ...rest } = kvc.spec;
    expect({ ...kvc, spec: rest }).toEqual(demo);
    type Svc = { metadata: { name: string }; spec: { ports: { name: string; port: number }[] } };
    const service = (name: string): Svc =>
      docs.find((d) => d.kind === 'Service' && d.metadata.name === name) as unknown as Svc;
    const port = (svc: Svc, name: string): number => svc.spec.ports.find((p) => p.name === name)!.port;
    // The nodes export OTLP/HTTP (http/protobuf) to the Collector's otlp-http port.
    expect(kvc.spec.tracing.protocol).toBe('http/protobuf');
    expect(kvc.spec.tracing.endpoint).toBe(
      `http://otel-collector.${ns}.svc:${port(service('otel-collector'), 'otlp-http')}`,
    );
    // The Collector receives on those ports and forwards its traces pipeline to Jaeger's OTLP/gRPC port.
    const cm = docs.find((d) => d.kind === 'ConfigMap') as unknown as { data: { 'config.yaml': string } };
    const config = parse(cm.data['config.yaml']) as {
      receivers: { otlp: { protocols: Record<string, { endpoint: string }> } };
      processors: Record<string, unknown>;
      exporters: Record<string, { endpoint: string }>;
      service: { pipelines: { traces: { receivers: string[]; processors: string[]; exporters: string[] } } };
    };
    expect(config.receivers.otlp.protocols.http!.endpoint).toBe(
      `0.0.0.0:${port(service('otel-collector'), 'otlp-http')}`,
    );
    const pipeline = config.service.pipelines.traces;
    expect(pipeline.receivers).toEqual(['otlp']);
    for (const p of pipeline.processors) expect(config.processors).toHaveProperty([p]);
    expect(pipeline.exporters.map((e) => config.exporters[e]!.endpoint)).toEqual([
      `jaeger.${ns}.svc:${port(service('jaeger'), 'otlp-grpc')}`,
    ]);
    // Every pod runs non-root with a read-only root.
    expectHardened(docs);
  });

  it('the chaos experiments select the demo cluster’s node pods (and PostgreSQL as the delay target)', () => {
    const demo = docsOf(join(MANIFESTS_DIR, 'samples', 'demo', '30-kvcluster.yaml'))[0]!;
    const expected = { 'app.kubernetes.io/name': 'kvring', 'app.kubernetes.io/instance': demo.metadata.name };
    const files = readdirSync(join(MANIFESTS_DIR, 'chaos')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBe(6);
    for (const f of files) {
      const d = docsOf(join(MANIFESTS_DIR, 'chaos', f))[0]! as unknown as {
        kind: string;
        metadata: { namespace: string };
        spec: {
          selector?: { labelSelectors: Record<string, string> };
          podChaos?: { selector: { labelSelectors: Record<string, string> } };
        };
      };
      const selector = d.spec.selector ?? d.spec.podChaos?.selector;
      expect({ file: f, labels: selector?.labelSelectors }).toEqual({ file: f, labels: expected });
      expect(d.metadata.namespace).toBe(demo.metadata.namespace);
    }
    const delay = docsOf(join(MANIFESTS_DIR, 'chaos', 'network-delay-postgres.yaml'))[0] as unknown as {
      spec: { target: { selector: { labelSelectors: Record<string, string> } } };
    };
    const postgres = docsOf(join(MANIFESTS_DIR, 'samples', 'demo', '10-postgres.yaml')).find(
      (d) => d.kind === 'StatefulSet',
    ) as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } };
    expect(postgres.spec.template.metadata.labels).toMatchObject(delay.spec.target.selector.labelSelectors);
    expect(readFileSync(join(MANIFESTS_DIR, 'chaos', 'README.md'), 'utf8')).toMatch(/Invariant/i);
  });

  it('the Grafana dashboard is well formed: unique panel ids, no overlaps, every query on the chosen data source', () => {
    const d = dashboard();
    expect(d.uid).toBe('kvring');
    const panels = allPanels(d);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    // No two panels share a grid cell.
    const cells = new Set<string>();
    const overlaps: string[] = [];
    for (const p of panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const key = `${x},${y}`;
          if (cells.has(key)) overlaps.push(`${p.title} at ${key}`);
          cells.add(key);
        }
    expect(overlaps).toEqual([]);
    expect(panels.every((p) => p.gridPos.x + p.gridPos.w <= 24)).toBe(true);
    const queryPanels = panels.filter((p) => p.type !== 'row');
    expect(queryPanels.length).toBeGreaterThanOrEqual(20);
    for (const p of queryPanels) {
      expect({ panel: p.title, uid: p.datasource?.uid }).toEqual({ panel: p.title, uid: '${datasource}' });
      expect(p.targets?.length ?? 0).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.expr.trim()).not.toBe('');
    }
    const variables = d.templating.list.map((v) => v.name);
    expect(variables).toEqual(['datasource', 'namespace', 'cluster']);
    // Every $variable a query uses is defined (or one of Grafana's own).
    const used = new Set(
      queryPanels.flatMap((p) =>
        (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]!)),
      ),
    );
    for (const v of used) expect(v.startsWith('__') || variables.includes(v)).toBe(true);
  });
});
