// manifests/monitoring: the alert rules pass `promtool check rules`, fire on
// the series they are about (`promtool test rules`), and every metric named
// in a rule or a dashboard query is one the real processes serve: a node
// (with PostgreSQL and the legacy API) and the operator are started and
// their /metrics pages read.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '@kvring/control-plane';
import { Child } from '@kvring/devcluster/process';
import { startTestEnv, type TestEnv } from '../../node/test/support/cluster.js';
import { exposedNames } from './support/exposition.js';
import { dashboardQueries, ruleGroups, ruleQueries, type Query } from './support/monitoring.js';
import { OPERATOR_MAIN } from './support/operator-process.js';
import { grafanaQueryMetricNames, metricNames } from './support/promql.js';
import { run } from './support/tools.js';
import { prometheusConfig } from '../../e2e/test/support/prometheus.js';
import { podTargets } from '../../e2e/test/support/discovery-snapshot.js';

/** A cache pod as the API shows it, for the discovered target groups. */
const demoPod = {
  metadata: {
    name: 'demo-0',
    namespace: 'kvring-demo',
    labels: { 'app.kubernetes.io/name': 'kvring', 'app.kubernetes.io/component': 'cache' },
  },
  spec: { containers: [{ name: 'kvring', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: '10.244.0.9', conditions: [{ type: 'Ready', status: 'True' }] },
};

/** Series Prometheus itself adds to every target: not exported by anyone. */
const PROMETHEUS_SYNTHETIC = new Set(['up']);

function referenced(q: Query): Set<string> {
  return q.templating ? grafanaQueryMetricNames(q.expr) : metricNames(q.expr);
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvring-monitoring-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: ruleGroups() }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const r = await run('promtool', ['check', 'rules', join(dir, 'rules.yaml')]).catch((err: Error) => {
      throw new Error(
        `${err.message}: promtool is Debian's prometheus package (scripts/ensure-system-deps.sh installs it)`,
      );
    });
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('load, with the scrape jobs derived from the monitors, in a plain Prometheus (promtool check config)', async () => {
    // The end-to-end monitoring scenario runs Prometheus with this configuration.
    const pods = podTargets([demoPod]);
    const config = prometheusConfig({ pod: pods, endpoints: [] }, join(dir, 'rules.yaml'));
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const r = await run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('each alert has a severity, a summary, a description and a runbook line', () => {
    const rules = ruleGroups().flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(14);
    for (const r of rules) {
      expect({ alert: r.alert, severity: r.labels?.severity }).toEqual({
        alert: r.alert,
        severity: expect.stringMatching(/^(warning|critical)$/),
      });
      for (const a of ['summary', 'description', 'runbook'])
        expect({ alert: r.alert, [a]: (r.annotations?.[a] ?? '').length > 10 }).toEqual({
          alert: r.alert,
          [a]: true,
        });
    }
  });

  it('fire on the series they are about, and not on healthy ones (promtool test rules)', async () => {
    // promtool compares annotations too: test the expressions and their `for`
    // on a copy without them (check rules above parses their templates).
    const bare = ruleGroups().map((g) => ({
      name: g.name,
      rules: g.rules.map(({ annotations: _a, ...r }) => r),
    }));
    writeFileSync(join(dir, 'bare-rules.yaml'), stringify({ groups: bare }));
    const apps = { namespace: 'apps', severity: 'warning' };
    // Series as Prometheus stores them after a scrape: namespace and pod from
    // the target; the operator's own `namespace` label becomes exported_namespace.
    const tests = {
      rule_files: ['bare-rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'up{job="kvring",namespace="apps",pod="cache-0"}', values: '1x10' },
            { series: 'up{job="kvring",namespace="apps",pod="cache-1"}', values: '1 1 0x8' },
            { series: 'kvring_legacy_breaker_state{namespace="apps",pod="cache-0"}', values: '0 0 2x8' },
            { series: 'kvring_legacy_breaker_state{namespace="apps",pod="cache-1"}', values: '0 1 0x8' },
            { series: 'kvring_postgres_up{namespace="apps",pod="cache-0"}', values: '1x10' },
            {
              series: 'kvring_version_regressions_total{namespace="apps",pod="cache-0",detector="node"}',
              values: '0x10',
            },
            {
              series: 'kvring_version_regressions_total{namespace="apps",pod="cache-1",detector="replica"}',
              values: '0 0 0 1 1 1x5',
            },
            { series: 'kvring_postgres_up{namespace="apps",pod="cache-2"}', values: '1 1 0x8' },
            // cache-2 is seen down by both of its peers, cache-1 by one of two.
            { series: 'kvring_member_up{namespace="apps",pod="cache-0",member="cache-2"}', values: '1 0x9' },
            { series: 'kvring_member_up{namespace="apps",pod="cache-1",member="cache-2"}', values: '1 0x9' },
            { series: 'kvring_member_up{namespace="apps",pod="cache-0",member="cache-1"}', values: '1 0x9' },
            { series: 'kvring_member_up{namespace="apps",pod="cache-2",member="cache-1"}', values: '1x10' },
            // Two operator replicas: only the leader's view of a cluster counts.
            { series: 'kvring_operator_leader{namespace="kvring-system",pod="op-a"}', values: '1x15' },
            { series: 'kvring_operator_leader{namespace="kvring-system",pod="op-b"}', values: '0x15' },
            {
              series:
                'kvring_operator_cluster_condition{namespace="kvring-system",pod="op-a",exported_namespace="apps",name="cache",condition="Ready",status="True"}',
              values: '0x15',
            },
            {
              series:
                'kvring_operator_cluster_condition{namespace="kvring-system",pod="op-b",exported_namespace="apps",name="old",condition="Ready",status="True"}',
              values: '0x15',
            },
          ],
          alert_rule_test: [
            {
              eval_time: '5m',
              alertname: 'KVRingNodeDown',
              exp_alerts: [{ exp_labels: { ...apps, job: 'kvring', pod: 'cache-1' } }],
            },
            {
              eval_time: '5m',
              alertname: 'KVRingLegacyBreakerOpen',
              exp_alerts: [{ exp_labels: { ...apps, pod: 'cache-0' } }],
            },
            {
              eval_time: '5m',
              alertname: 'KVRingPostgresUnreachable',
              exp_alerts: [{ exp_labels: { ...apps, severity: 'critical', pod: 'cache-2' } }],
            },
            {
              eval_time: '5m',
              alertname: 'KVRingVersionRegression',
              exp_alerts: [{ exp_labels: { ...apps, severity: 'critical', pod: 'cache-1' } }],
            },
            {
              eval_time: '5m',
              alertname: 'KVRingMemberSeenDown',
              exp_alerts: [{ exp_labels: { ...apps, member: 'cache-2' } }],
            },
            // Not before its `for` of 10 minutes.
            { eval_time: '5m', alertname: 'KVClusterNotReady', exp_alerts: [] },
            {
              eval_time: '12m',
              alertname: 'KVClusterNotReady',
              exp_alerts: [
                {
                  exp_labels: {
                    severity: 'warning',
                    namespace: 'kvring-system',
                    pod: 'op-a',
                    exported_namespace: 'apps',
                    name: 'cache',
                    condition: 'Ready',
                    status: 'True',
                  },
                },
              ],
            },
            { eval_time: '5m', alertname: 'KVRingOperatorNoLeader', exp_alerts: [] },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'rules-test.yaml'), stringify(tests));
    const r = await run('promtool', ['test', 'rules', join(dir, 'rules-test.yaml')]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });
});

describe('metric names in rules and dashboards', () => {
  let env: TestEnv | undefined;
  let operator: Child | undefined;
  let exported = new Set<string>();

  beforeAll(async () => {
    env = await startTestEnv({
      nodes: 1,
      env: { KVRING_REPLICATION_FACTOR: '1', KVRING_READ_QUORUM: '1', KVRING_WRITE_QUORUM: '1' },
    });
    // The operator serves /metrics as soon as it runs, API server or not:
    // here it has none (its list/watch calls fail and are retried).
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'none', cluster: { server: 'https://127.0.0.1:9', 'insecure-skip-tls-verify': true } },
        ],
        users: [{ name: 'none', user: { token: 'none' } }],
        contexts: [{ name: 'none', context: { cluster: 'none', user: 'none' } }],
        'current-context': 'none',
      }),
    );
    const port = await freePort();
    operator = new Child({
      name: 'operator',
      command: process.execPath,
      args: [
        OPERATOR_MAIN,
        `--kubeconfig=${kubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${port}`,
        '--no-leader-elect',
      ],
      env: {},
      logFile: join(dir, 'operator.log'),
    });
    operator.start();
    const pages: string[] = [];
    pages.push(await (await fetch(`${env.cluster.nodes[0]!.httpUrl}/metrics`)).text());
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        pages.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
        break;
      } catch {
        if (!operator.running) throw new Error(`the operator exited:\n${operator.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(pages).toHaveLength(2);
    exported = new Set(pages.flatMap((p) => [...exposedNames(p)]));
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    await env?.stop();
  });

  it('the processes serve both families', () => {
    expect(exported.has('kvring_requests_total')).toBe(true);
    expect(exported.has('kvring_request_duration_seconds_bucket')).toBe(true);
    expect(exported.has('kvring_operator_reconcile_total')).toBe(true);
  });

  it('every metric a rule or a dashboard query names is served at /metrics', () => {
    const queries = [...ruleQueries(), ...dashboardQueries()];
    const named = new Set(queries.flatMap((q) => [...referenced(q)]));
    // The extractor finds what the queries are about (a parser that found
    // nothing would make this test pass on anything).
    expect(named.size).toBeGreaterThanOrEqual(30);
    for (const n of [
      'kvring_member_up',
      'kvring_postgres_query_duration_seconds_bucket',
      'kvring_operator_leader',
    ])
      expect(named).toContain(n);
    const unknown = queries.flatMap((q) =>
      [...referenced(q)]
        .filter((n) => !exported.has(n) && !PROMETHEUS_SYNTHETIC.has(n))
        .map((n) => `${q.source}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });
});
