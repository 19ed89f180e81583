// Scenario 8: monitoring as a user of manifests/monitoring gets it. A plain
// Prometheus runs in the cluster (Debian's package on the local cluster)
// with scrape jobs derived from our PodMonitor and ServiceMonitor and our
// PrometheusRule's groups as its rule file. While the demo cluster takes some
// traffic: every cache pod and every operator pod is a healthy target under
// the job the rules select on; every rule evaluates without error and no
// alert is pending or firing on a healthy cluster; every dashboard query
// (panels and template variables, with Grafana's variables filled in) is
// accepted, and the main panels return numbers.
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { loadScript, type LoadResult } from '../support/load-scripts.js';
import {
  DEMO_NS,
  OPERATOR_NS,
  SERVICE_ADDRESS,
  cli,
  nodePods,
  operatorPods,
  podAddress,
  script,
} from '../support/kvring.js';
import {
  PROMETHEUS_NS,
  PrometheusApi,
  dashboardQueries,
  grafanaExpr,
  prometheusManifests,
  serviceMonitor,
  podMonitor,
} from '../support/prometheus.js';
import { ruleGroups } from '../../../test/packaging/support/monitoring.js';
import { discover } from '../support/discovery-snapshot.js';
import type { ScenarioContext } from './context.js';

/** Panels a user opens the dashboard for: each must show numbers after a little traffic. */
const MAIN_PANELS = [
  'Requests per second by method',
  'Latency by method (p50, p99)',
  'Reads per second by source',
  'Cache bytes vs budget',
  'Entries in memory',
  "Members up and down (each node's view)",
  'Member up (1) as seen by peers',
  'Group commit batch size',
  'Query latency p99 by operation',
  'Errors per second and reachability',
  'Legacy calls per second by result',
  'Reconciles per second by result',
  'Cluster replicas: desired and ready',
  'Leader (1) per operator pod',
];

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}
interface RuleView {
  name: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  state?: string;
  lastEvaluation?: string;
}

export async function monitoringScenario(c: ScenarioContext): Promise<void> {
  const r = (line: string) => c.report('8 monitoring', line);
  const prom = new PrometheusApi(c.k);
  const mon = c.k.in(PROMETHEUS_NS);
  const t0 = Date.now();
  const discovered = await discover(c.k);
  await c.k.apply(prometheusManifests(discovered));
  await mon.ok(['rollout', 'status', 'deployment/prometheus', '--timeout=180s'], { timeoutMs: 190_000 });
  r(
    `Prometheus (${(await mon.ok(['get', 'deploy/prometheus', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).trim()}) ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  // The targets: the job names are the monitors' jobLabel values, which the alert rules select on.
  const nodeJob = 'kvring';
  const operatorJob = 'kvring-operator';
  const cachePods = (await nodePods(c.demo)).map((p) => p.metadata.name).sort();
  const opPods = (await operatorPods(c.k)).map((p) => p.metadata.name).sort();
  const targets = await eventually(
    async () => {
      const t = await prom.get<{ activeTargets: Target[] }>('/api/v1/targets', { state: 'active' });
      const up = (job: string) =>
        t.data.activeTargets
          .filter((x) => x.labels.job === job && x.health === 'up')
          .map((x) => x.labels.pod ?? '')
          .sort();
      const nodes = up(nodeJob);
      const ops = up(operatorJob);
      return JSON.stringify(nodes) === JSON.stringify(cachePods) &&
        JSON.stringify(ops) === JSON.stringify(opPods)
        ? t.data.activeTargets
        : undefined;
    },
    {
      timeoutMs: 120_000,
      intervalMs: 2_000,
      what: `every cache pod up in job ${nodeJob} and every operator pod in ${operatorJob}`,
    },
  );
  r(
    `targets up after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${targets.length} ` +
      `(${podMonitor().metadata.name} → job ${nodeJob}: ${cachePods.join(' ')}; ` +
      `${serviceMonitor().metadata.name} → job ${operatorJob}: ${opPods.join(' ')})`,
  );
  for (const t of targets) expect(t.labels.namespace).toBe(t.labels.job === nodeJob ? DEMO_NS : OPERATOR_NS);

  // Traffic for the panels: writes and reads through every pod, and a read through to the legacy API.
  const legacy = await cli(c.demo, SERVICE_ADDRESS, ['get', `legacy:${1 + (Date.now() % 1000)}`]);
  expect(legacy.code).toBe(0);
  const load = await script(
    c.demo,
    loadScript({
      addresses: [podAddress('demo-0'), podAddress('demo-1'), podAddress('demo-2')],
      prefix: `e2e:monitoring:${Date.now().toString(36)}`,
      durationMs: 40_000,
      workers: 2,
      timeoutMs: 3000,
    }),
    100_000,
  );
  expect(load.code).toBe(0);
  const res = JSON.parse(load.stdout) as LoadResult;
  r(`traffic: ${res.writes} writes (${res.acked.length} acknowledged), ${res.reads} reads over 40 s`);

  // Every rule has been evaluated, without error.
  const groups = ruleGroups();
  const ruleCount = groups.reduce((n, g) => n + g.rules.length, 0);
  const rules = await eventually(
    async () => {
      const a = await prom.get<{ groups: { rules: RuleView[] }[] }>('/api/v1/rules');
      const all = a.data.groups.flatMap((g) => g.rules);
      return all.length === ruleCount && all.every((x) => x.health !== 'unknown') ? all : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 2_000, what: `all ${ruleCount} rules evaluated` },
  );
  const broken = rules.filter((x) => x.health !== 'ok').map((x) => `${x.name}: ${x.lastError ?? x.health}`);
  expect(broken).toEqual([]);
  // Each expression also answers as a query of its own (what a user pastes into the console).
  const badRules: string[] = [];
  for (const g of groups)
    for (const rule of g.rules) {
      const q = await prom.query(String(rule.expr));
      if (q.status !== 'success') badRules.push(`${rule.alert ?? rule.record}: ${q.error}`);
    }
  expect(badRules).toEqual([]);
  const active = rules.filter((x) => x.type === 'alerting' && x.state !== 'inactive');
  r(
    `${rules.length} rules in ${groups.length} groups evaluated, health ok; alerts pending or firing: ` +
      `${active.map((x) => `${x.name} (${x.state})`).join(', ') || 'none'}`,
  );
  expect(active.map((x) => x.name)).toEqual([]);

  // The dashboard, as Grafana would run it for this namespace and KVCluster.
  const d = dashboardQueries();
  const vars = { namespace: DEMO_NS, cluster: 'demo', rateInterval: '1m' };
  for (const v of d.variables) {
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(grafanaExpr(v.query, vars));
    expect(m).not.toBeNull();
    const values = await prom.get<string[]>(`/api/v1/label/${m![2]}/values`, { 'match[]': m![1]! });
    expect(values.status).toBe('success');
    r(`variable ${v.name}: ${values.data.join(' ')}`);
    expect(values.data).toContain(v.name === 'namespace' ? DEMO_NS : 'demo-0');
  }
  const empty: string[] = [];
  const failed: string[] = [];
  const withData = new Set<string>();
  for (const t of d.targets) {
    const q = await prom.query(grafanaExpr(t.expr, vars));
    if (q.status !== 'success') failed.push(`${t.panel}: ${q.error}`);
    else if (q.data.result.some((s) => Number.isFinite(Number(s.value[1])))) withData.add(t.panel);
    else empty.push(t.panel);
  }
  r(
    `dashboard: ${d.targets.length} queries in ${new Set(d.targets.map((t) => t.panel)).size} panels accepted; ` +
      `${withData.size} panels with numbers; without: ${[...new Set(empty)].filter((p) => !withData.has(p)).join('; ') || 'none'}`,
  );
  expect(failed).toEqual([]);
  const panels = new Set(d.targets.map((t) => t.panel));
  for (const p of MAIN_PANELS) expect(panels).toContain(p);
  expect(MAIN_PANELS.filter((p) => !withData.has(p))).toEqual([]);
}
