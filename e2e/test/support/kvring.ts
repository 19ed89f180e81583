// What the kvring scenarios share: helm, the demo's names, a long-lived
// client pod running the node image (it carries the kvring CLI and client
// library), and the KVCluster's status as kubectl shows it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, findBinaries, MissingBinariesError } from '@kvring/control-plane';
import { run } from '@kvring/control-plane';
import { eventually } from '@kvring/control-plane';
import type { E2eEnv } from './env.js';
import type { Kubectl, KubectlResult, PodView } from './kubectl.js';

export const DEMO_NS = 'kvring-demo';
export const OPERATOR_NS = 'kvring-system';
export const RELEASE = 'kvring';
export const CHART = join(REPO_ROOT, 'helm', 'kvring-operator');
export const DEMO_DIR = join(REPO_ROOT, 'manifests', 'samples', 'demo');
export const NODE_IMAGE = process.env.KVRING_E2E_NODE_IMAGE ?? 'kvring/node:0.1.0';
export const CLI = '/app/cli/dist/main.js';
export const CLIENT_POD = 'e2e-client';
export const OPERATOR_SELECTOR = 'app.kubernetes.io/name=kvring-operator';
export const CLIENT_PORT = 50051;

/** helm: KVRING_E2E_HELM, else the one scripts/k8s/build.sh built, else `helm` on PATH. */
export function helmBinary(): string {
  if (process.env.KVRING_E2E_HELM) return process.env.KVRING_E2E_HELM;
  try {
    return findBinaries(['helm'] as const).helm;
  } catch (err) {
    if (err instanceof MissingBinariesError) return 'helm';
    throw err;
  }
}

/** Runs helm with the suite's kubeconfig, bounded. */
export function helm(env: E2eEnv, args: readonly string[], timeoutMs = 180_000): Promise<KubectlResult> {
  return run(helmBinary(), [`--kubeconfig=${env.kubeconfig}`, ...args], { timeoutMs });
}

export function chartExists(): boolean {
  return existsSync(join(CHART, 'Chart.yaml'));
}

/** A pod of the node image that idles, so the CLI and small scripts run in it with `kubectl exec`. */
export function clientPodManifest(): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: CLIENT_POD, namespace: DEMO_NS, labels: { app: 'e2e-client' } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'client',
          image: NODE_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          workingDir: '/app',
          command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
        },
      ],
    },
  });
}

/** Client address of the demo's pod `name` (its DNS name under the headless Service). */
export function podAddress(name: string): string {
  return `${name}.demo-peers.${DEMO_NS}.svc:${CLIENT_PORT}`;
}

export const SERVICE_ADDRESS = `demo.${DEMO_NS}.svc:${CLIENT_PORT}`;

/** The headless Service: the Kubernetes-aware client resolves every pod behind it. */
export const HEADLESS_ADDRESS = `demo-peers.${DEMO_NS}.svc:${CLIENT_PORT}`;

/** The kvring CLI in the client pod. */
export function cli(k: Kubectl, addr: string, args: readonly string[], timeoutMs = 30_000) {
  return k.exec(CLIENT_POD, ['node', CLI, '--addr', addr, '--timeout', '5s', ...args], { timeoutMs });
}

/** The kubectl plugin (cli/dist/kubectl-kvring.js, built by `make e2e`) run on the host against the cluster. */
export const KUBECTL_PLUGIN = join(REPO_ROOT, 'cli', 'dist', 'kubectl-kvring.js');

/** `kubectl kvring ARGS -n NAMESPACE` as a user runs it: their kubectl and kubeconfig. */
export function kubectlPlugin(env: E2eEnv, namespace: string, args: readonly string[], timeoutMs = 60_000) {
  return run(process.execPath, [KUBECTL_PLUGIN, '-n', namespace, ...args], {
    env: { ...process.env, KUBECTL: env.kubectl, KUBECONFIG: env.kubeconfig },
    timeoutMs,
  });
}

/** A node ES module run in the client pod (from /app, so it imports the client library by path). */
export function script(k: Kubectl, source: string, timeoutMs: number) {
  // The source goes on stdin: scripts that embed every acknowledged key
  // outgrow the argument-list limit (spawn E2BIG) as an `-e` argument.
  return k.exec(CLIENT_POD, ['node', '--input-type=module', '-'], { timeoutMs, input: source });
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface KvcView {
  metadata: { name: string; generation: number; uid: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    ringMembers?: string[];
    ringHash?: string;
    conditions?: Condition[];
  };
}

export function condition(kvc: KvcView, type: string): Condition | undefined {
  return kvc.status?.conditions?.find((c) => c.type === type);
}

export function isReady(kvc: KvcView): boolean {
  return (
    condition(kvc, 'Ready')?.status === 'True' &&
    (kvc.status?.observedGeneration ?? -1) >= kvc.metadata.generation
  );
}

export function getKvc(k: Kubectl, name = 'demo'): Promise<KvcView> {
  return k.json<KvcView>(['get', 'kvc', name]);
}

/** Waits (bounded) for Ready=True at the current generation; returns the time it took in ms. */
export async function waitReady(k: Kubectl, timeoutMs: number, name = 'demo'): Promise<number> {
  const t0 = Date.now();
  await eventually(
    async () => {
      const kvc = await getKvc(k, name);
      return isReady(kvc) ? kvc : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `KVCluster ${name} Ready` },
  );
  return Date.now() - t0;
}

export async function nodePods(k: Kubectl, name = 'demo'): Promise<PodView[]> {
  const list = await k.json<{ items: PodView[] }>([
    'get',
    'pods',
    '-l',
    `app.kubernetes.io/instance=${name},app.kubernetes.io/name=kvring`,
  ]);
  return list.items;
}

/** The operator's pods (the chart's Deployment), as kubectl shows them. */
export async function operatorPods(k: Kubectl): Promise<PodView[]> {
  const list = await k.in(OPERATOR_NS).json<{ items: PodView[] }>(['get', 'pods', '-l', OPERATOR_SELECTOR]);
  return list.items;
}

export interface EventView {
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

export async function events(k: Kubectl, kind: string, name: string): Promise<EventView[]> {
  const list = await k.json<{ items: EventView[] }>([
    'get',
    'events',
    '--field-selector',
    `involvedObject.kind=${kind},involvedObject.name=${name}`,
  ]);
  return list.items;
}

/** psql in the demo PostgreSQL pod, over TCP as the user of the demo's Secret (the image has no local socket). */
export async function psql(k: Kubectl, sql: string): Promise<KubectlResult> {
  const secret = await k.json<{ data: { username: string; password: string } }>([
    'get',
    'secret',
    'demo-postgres',
  ]);
  const dec = (b: string) => Buffer.from(b, 'base64').toString('utf8');
  return k.exec(
    'demo-postgres-0',
    [
      'env',
      `PGPASSWORD=${dec(secret.data.password)}`,
      'psql',
      '-h',
      '127.0.0.1',
      '-U',
      dec(secret.data.username),
      '-d',
      'kvring',
      '-tAc',
      sql,
    ],
    { timeoutMs: 30_000 },
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (bounded) until every one of `replicas` cache pods carries the pod annotation `key`=`value`,
 * is Ready, and the KVCluster is Ready with all replicas updated. A Ready status read straight
 * after a change can still be the one from before it, hence the pods first.
 */
export async function waitRolledOut(
  k: Kubectl,
  key: string,
  value: string,
  timeoutMs: number,
  replicas = 3,
): Promise<void> {
  await eventually(
    async () => {
      const pods = (await nodePods(k)) as (PodView & {
        metadata: { annotations?: Record<string, string> };
      })[];
      if (pods.length !== replicas || !pods.every((p) => p.metadata.annotations?.[key] === value))
        return undefined;
      if (!pods.every((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')))
        return undefined;
      const kvc = await getKvc(k);
      return isReady(kvc) && kvc.status?.updatedReplicas === replicas ? kvc : undefined;
    },
    { timeoutMs, intervalMs: 1000, what: `every pod with ${key}=${value}, Ready, and the KVCluster Ready` },
  );
}
