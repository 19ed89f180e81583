// The PromQL of manifests/monitoring: the alert rules' expressions and the
// Grafana dashboard's queries, each with where it comes from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from './tools.js';

export const RULES_FILE = join(MANIFESTS_DIR, 'monitoring', 'prometheusrule.yaml');
export const DASHBOARD_FILE = join(MANIFESTS_DIR, 'monitoring', 'dashboards', 'kvring.json');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export interface Query {
  /** Where it is: "rule KVRingNodeDown", "panel 'Latency by method' A", "variable cluster". */
  source: string;
  expr: string;
  /** A Grafana templating query (label_values(...)) rather than PromQL. */
  templating?: boolean;
}

export function ruleGroups(): RuleGroup[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as { spec: { groups: RuleGroup[] } };
  return doc.spec.groups;
}

export function ruleQueries(): Query[] {
  return ruleGroups().flatMap((g) =>
    g.rules.map((r) => ({ source: `rule ${r.alert ?? r.record ?? '?'}`, expr: r.expr })),
  );
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query: string | { query: string }; datasource?: { uid: string } }[];
  };
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function dashboardQueries(d: Dashboard = dashboard()): Query[] {
  const out: Query[] = [];
  for (const p of allPanels(d))
    for (const t of p.targets ?? []) out.push({ source: `panel '${p.title}' ${t.refId}`, expr: t.expr });
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    out.push({ source: `variable ${v.name}`, expr: q, templating: true });
  }
  return out;
}
