// Commands the packaging tests run (helm, kubectl, promtool, the scripts in
// scripts/), and rendering of the chart. Binaries come from the caches the
// repository's build scripts fill; a missing one is an error that says how
// to get it, never a silent skip.
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { findBinaries, pinnedVersions, REPO_ROOT, run } from '@kvring/control-plane';

export { REPO_ROOT };
export { run, runOk, type RunOptions, type RunResult } from '@kvring/control-plane';

export const CHART_DIR = join(REPO_ROOT, 'helm', 'kvring-operator');
export const MANIFESTS_DIR = join(REPO_ROOT, 'manifests');

/** A Kubernetes object as the tests look at it. */
export interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export function helmBin(): string {
  return findBinaries(['helm']).helm;
}

export function kubectlBin(): string {
  return findBinaries(['kubectl']).kubectl;
}

/** Kubernetes version the chart is rendered for (helm built from source defaults to 1.20). */
export function kubeVersion(): string {
  return (pinnedVersions().KUBERNETES_VERSION ?? 'v1.35.8').replace(/^v/, '');
}

/** Helm's notice that crds-src and rbac-src are links; everything else on stderr is kept. */
export function withoutLinkNotices(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('found symbolic link in path'))
    .join('\n');
}

/** `helm template` of the chart (or a packaged .tgz) with extra flags; throws with helm's message on failure. */
export async function helmTemplate(
  flags: readonly string[] = [],
  o: { release?: string; namespace?: string; chart?: string } = {},
): Promise<string> {
  const r = await run(helmBin(), [
    'template',
    o.release ?? 'kvring-operator',
    o.chart ?? CHART_DIR,
    '--namespace',
    o.namespace ?? 'kvring-system',
    '--kube-version',
    kubeVersion(),
    ...flags,
  ]);
  if (r.code !== 0) throw new Error(`helm template failed: ${withoutLinkNotices(r.stderr) || r.stdout}`);
  return r.stdout;
}

/** Every non-empty YAML document of a stream, parsed; a syntax error throws naming the source. */
export function parseDocs(text: string, source = 'YAML'): KubeDoc[] {
  const docs = parseAllDocuments(text);
  const out: KubeDoc[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${source}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS() as KubeDoc | null;
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** The chart's values flags that turn every optional object on. */
export const ALL_TOGGLES_ON = [
  '--set',
  'metrics.serviceMonitor.enabled=true',
  '--set',
  'podDisruptionBudget.enabled=true',
  '--set',
  'metrics.serviceMonitor.labels.release=kube-prometheus-stack',
  '--set',
  'crds.install=true',
  '--set',
  'leaderElection.enabled=true',
];
