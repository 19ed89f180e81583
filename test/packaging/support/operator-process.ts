// The built operator (operator/dist/main.js) as a process, with the
// arguments the chart's Deployment gives it, talking to a test API server
// as a ServiceAccount: what a pod of the chart's Deployment would do.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Child } from '@kvring/devcluster/process';
import type { ControlPlane } from '@kvring/control-plane';
import { freePort } from '@kvring/control-plane';
import { REPO_ROOT } from './tools.js';

export const OPERATOR_MAIN = join(REPO_ROOT, 'operator', 'dist', 'main.js');

/** A kubeconfig that authenticates with a ServiceAccount token (kubectl create token). */
export async function serviceAccountKubeconfig(
  cp: ControlPlane,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const token = (
    await cp.kubectlOk(['-n', namespace, 'create', 'token', serviceAccount, '--duration=1h'])
  ).trim();
  return cp.writeKubeconfig(
    join(cp.dir, `kubeconfig-sa-${namespace}-${serviceAccount}`),
    { token },
    namespace,
  );
}

export interface OperatorProcess {
  child: Child;
  metricsUrl: string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the operator with `deploymentArgs` (from the rendered Deployment),
 * its metrics address moved to a free loopback port.
 */
export async function startOperator(
  deploymentArgs: readonly string[],
  kubeconfig: string,
  logFile: string,
): Promise<OperatorProcess> {
  if (!existsSync(OPERATOR_MAIN)) throw new Error(`${OPERATOR_MAIN} is missing: run \`make build\` first`);
  const port = await freePort();
  const args = [
    OPERATOR_MAIN,
    ...deploymentArgs.filter((a) => !a.startsWith('--metrics-bind-address')),
    `--metrics-bind-address=127.0.0.1:${port}`,
    `--kubeconfig=${kubeconfig}`,
    '--identity=packaging-test',
  ];
  const child = new Child({ name: 'operator', command: process.execPath, args, env: {}, logFile });
  child.start();
  return { child, metricsUrl: `http://127.0.0.1:${port}/metrics`, stop: () => child.stop(15_000) };
}
