// Prometheus for the monitoring scenario: a plain Prometheus (Debian's on the
// local cluster, any image elsewhere) whose scrape jobs are derived from the
// PodMonitor and ServiceMonitor in manifests/monitoring the way the
// prometheus-operator derives them, and whose rule file is the
// PrometheusRule's groups. So the scenario proves what a user of those
// manifests gets: the monitors select our pods, the job labels the rules
// select on are right, and every rule evaluates. Discovery is a snapshot
// (discovery-snapshot.ts): Debian's Prometheus has no kubernetes_sd.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '@kvring/control-plane';
import { allPanels, dashboard, ruleGroups } from '../../../test/packaging/support/monitoring.js';
import { sdName, type TargetGroup } from './discovery-snapshot.js';
import type { Kubectl } from './kubectl.js';

export const MONITORING_DIR = join(REPO_ROOT, 'manifests', 'monitoring');
export const PROMETHEUS_NS = 'kvring-monitoring';
export const PROMETHEUS_IMAGE = process.env.KVRING_E2E_PROMETHEUS_IMAGE ?? 'kvring.local/e2e/prometheus:1';

interface LabelSelector {
  matchLabels?: Record<string, string>;
}
interface NamespaceSelector {
  any?: boolean;
  matchNames?: string[];
}
interface Endpoint {
  port: string;
  path?: string;
  interval?: string;
  scrapeTimeout?: string;
}
interface Monitor<K extends string> {
  kind: K;
  metadata: { name: string };
  spec: {
    jobLabel?: string;
    namespaceSelector?: NamespaceSelector;
    selector: LabelSelector;
  } & (K extends 'PodMonitor' ? { podMetricsEndpoints: Endpoint[] } : { endpoints: Endpoint[] });
}

function readYaml<T>(file: string): T {
  return parse(readFileSync(join(MONITORING_DIR, file), 'utf8')) as T;
}

export const podMonitor = (): Monitor<'PodMonitor'> => readYaml('podmonitor-nodes.yaml');
export const serviceMonitor = (): Monitor<'ServiceMonitor'> => readYaml('servicemonitor-operator.yaml');

type Relabel = Record<string, string | string[]>;

/**
 * The relabelling the prometheus-operator generates for a monitor: keep the
 * objects its selector matches and the endpoint's named port, then set the
 * target labels (namespace, pod, container, service, endpoint, and job from
 * jobLabel). `honor_labels` stays false, as the operator's default, so a
 * scraped `namespace` label becomes `exported_namespace` (the dashboard
 * relies on that for the operator's per-cluster gauges).
 */
function relabelling(
  role: 'pod' | 'endpoints',
  selector: LabelSelector,
  port: string,
  jobLabel: string | undefined,
  defaultJob: string,
): Relabel[] {
  const obj = role === 'pod' ? 'pod' : 'service';
  const keep: Relabel[] = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => ({
    action: 'keep',
    source_labels: [
      `__meta_kubernetes_${obj}_label_${sdName(k)}`,
      `__meta_kubernetes_${obj}_labelpresent_${sdName(k)}`,
    ],
    regex: `(${v});true`,
  }));
  const portLabel =
    role === 'pod' ? '__meta_kubernetes_pod_container_port_name' : '__meta_kubernetes_endpoint_port_name';
  const set = (target: string, source: string): Relabel => ({
    source_labels: [source],
    target_label: target,
  });
  return [
    ...keep,
    { action: 'keep', source_labels: [portLabel], regex: port },
    // Finished pods keep their addresses for a while; the operator drops them too.
    { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
    set('namespace', '__meta_kubernetes_namespace'),
    set('container', '__meta_kubernetes_pod_container_name'),
    set('pod', '__meta_kubernetes_pod_name'),
    ...(role === 'endpoints' ? [set('service', '__meta_kubernetes_service_name')] : []),
    { target_label: 'job', replacement: defaultJob },
    ...(jobLabel ? [set('job', `__meta_kubernetes_${obj}_label_${sdName(jobLabel)}`)] : []),
    { target_label: 'endpoint', replacement: port },
  ];
}

/** The monitor's namespaceSelector, applied to the discovered groups. */
function inNamespaces(groups: TargetGroup[], ns: NamespaceSelector | undefined): TargetGroup[] {
  const names = ns?.any ? undefined : ns?.matchNames;
  return names ? groups.filter((g) => names.includes(g.labels.__meta_kubernetes_namespace ?? '')) : groups;
}

/** prometheus.yml for the two monitors over the discovered groups, with the rules from rulesFile. */
export function prometheusConfig(
  discovered: { pod: TargetGroup[]; endpoints: TargetGroup[] },
  rulesFile = '/etc/prometheus/rules.yaml',
  scrapeInterval = '15s',
): string {
  const pm = podMonitor();
  const sm = serviceMonitor();
  const job = (
    name: string,
    role: 'pod' | 'endpoints',
    groups: TargetGroup[],
    m: Monitor<'PodMonitor'> | Monitor<'ServiceMonitor'>,
    e: Endpoint,
  ) => ({
    job_name: name,
    static_configs: inNamespaces(groups, m.spec.namespaceSelector),
    metrics_path: e.path ?? '/metrics',
    scrape_interval: e.interval ?? scrapeInterval,
    scrape_timeout: e.scrapeTimeout ?? '10s',
    relabel_configs: relabelling(role, m.spec.selector, e.port, m.spec.jobLabel, m.metadata.name),
  });
  const jobs = [
    ...pm.spec.podMetricsEndpoints.map((e, i) =>
      job(`podMonitor/${pm.metadata.name}/${i}`, 'pod', discovered.pod, pm, e),
    ),
    ...sm.spec.endpoints.map((e, i) =>
      job(`serviceMonitor/${sm.metadata.name}/${i}`, 'endpoints', discovered.endpoints, sm, e),
    ),
  ];
  return stringify({
    global: { scrape_interval: scrapeInterval, evaluation_interval: '15s' },
    rule_files: [rulesFile],
    scrape_configs: jobs,
  });
}

/** Everything the scenario applies: namespace, config, Deployment, Service. */
export function prometheusManifests(discovered: { pod: TargetGroup[]; endpoints: TargetGroup[] }): string {
  const labels = { 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/part-of': 'kvring-e2e' };
  const config = {
    'prometheus.yml': prometheusConfig(discovered),
    'rules.yaml': stringify({ groups: ruleGroups() }),
  };
  // A new snapshot of the targets (pods come back with new addresses) rolls the pod, which reads it at start.
  const configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROMETHEUS_NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus', namespace: PROMETHEUS_NS } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'prometheus', namespace: PROMETHEUS_NS },
      data: config,
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'prometheus', namespace: PROMETHEUS_NS, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { 'e2e.kvring.dev/config-hash': configHash } },
          spec: {
            serviceAccountName: 'prometheus',
            automountServiceAccountToken: false,
            securityContext: { runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, runAsNonRoot: true },
            containers: [
              {
                name: 'prometheus',
                image: PROMETHEUS_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                args: [
                  '--config.file=/etc/prometheus/prometheus.yml',
                  '--storage.tsdb.path=/prometheus',
                  '--web.listen-address=:9090',
                ],
                ports: [{ name: 'web', containerPort: 9090 }],
                readinessProbe: { httpGet: { path: '/-/ready', port: 'web' }, periodSeconds: 2 },
                volumeMounts: [
                  { name: 'config', mountPath: '/etc/prometheus' },
                  { name: 'data', mountPath: '/prometheus' },
                ],
                resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: 'prometheus' } },
              { name: 'data', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'prometheus', namespace: PROMETHEUS_NS, labels },
      spec: { selector: labels, ports: [{ name: 'web', port: 9090, targetPort: 'web' }] },
    },
  ];
  return objects.map((o) => stringify(o)).join('---\n');
}

/** Prometheus's HTTP API answer. */
export interface PromResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * The Prometheus HTTP API through the API server's service proxy (`kubectl
 * get --raw`), so the suite reaches it from anywhere a kubeconfig works: the
 * local cluster's namespace, kind, or a remote cluster.
 */
export class PrometheusApi {
  constructor(private readonly k: Kubectl) {}

  async get<T>(path: string, params: Record<string, string> = {}): Promise<PromResponse<T>> {
    const qs = new URLSearchParams(params).toString();
    const url = `/api/v1/namespaces/${PROMETHEUS_NS}/services/prometheus:web/proxy${path}${qs ? `?${qs}` : ''}`;
    const r = await this.k.run(['get', '--raw', url], { timeoutMs: 30_000 });
    // Prometheus answers a bad query with 400 and a JSON body; kubectl prints it on stderr then.
    const body = r.code === 0 ? r.stdout : (/\{.*\}/s.exec(r.stderr)?.[0] ?? '');
    if (!body) throw new Error(`GET ${path} failed (kubectl exit ${r.code}): ${r.stderr.trim()}`);
    try {
      return JSON.parse(body) as PromResponse<T>;
    } catch {
      throw new Error(`GET ${path}: not a Prometheus answer: ${body.slice(0, 300)}`);
    }
  }

  query(expr: string): Promise<PromResponse<{ resultType: string; result: Sample[] }>> {
    return this.get('/api/v1/query', { query: expr });
  }
}

/** Grafana's template variables, replaced the way Grafana would for one namespace and KVCluster. */
export function grafanaExpr(
  expr: string,
  vars: { namespace: string; cluster: string; rateInterval: string },
): string {
  return expr
    .replaceAll('$__rate_interval', vars.rateInterval)
    .replaceAll('$namespace', vars.namespace)
    .replaceAll('$cluster', vars.cluster);
}

export interface DashboardTarget {
  panel: string;
  expr: string;
}

/** Every query of the dashboard: the panels' targets and the template variables' queries. */
export function dashboardQueries(): {
  targets: DashboardTarget[];
  variables: { name: string; query: string }[];
} {
  const d = dashboard();
  const targets = allPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
  );
  const variables = d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ name: v.name, query: typeof v.query === 'string' ? v.query : v.query.query }));
  return { targets, variables };
}
