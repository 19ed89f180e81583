// What the end-to-end suites run against, from the environment, so the same
// suites run on the local cluster (scripts/e2e.sh sets everything), on kind,
// or on any cluster a kubeconfig reaches.
import { existsSync } from 'node:fs';
import { findBinaries, MissingBinariesError } from '@kvring/control-plane';

export interface E2eEnv {
  /** The kubeconfig the suites use (KVRING_E2E_KUBECONFIG, else KUBECONFIG). */
  kubeconfig: string;
  /** kubectl: KVRING_E2E_KUBECTL, else the one scripts/k8s/build.sh built, else `kubectl` on PATH. */
  kubectl: string;
  /** An image with busybox's applets (sh, nslookup, wget, httpd) the cluster can run without pulling. */
  busyboxImage: string;
  /** The cluster's DNS domain. */
  clusterDomain: string;
}

export function e2eEnv(env: NodeJS.ProcessEnv = process.env): E2eEnv {
  const kubeconfig = env.KVRING_E2E_KUBECONFIG ?? env.KUBECONFIG;
  if (!kubeconfig)
    throw new Error(
      'no cluster to run against: set KVRING_E2E_KUBECONFIG (or KUBECONFIG) to a kubeconfig, ' +
        'or run the suite with scripts/e2e.sh, which brings up the local cluster and sets it',
    );
  if (!existsSync(kubeconfig)) throw new Error(`the kubeconfig ${kubeconfig} does not exist`);
  return {
    kubeconfig,
    kubectl: env.KVRING_E2E_KUBECTL ?? builtKubectl(),
    busyboxImage: env.KVRING_E2E_BUSYBOX_IMAGE ?? 'kvring.local/e2e/busybox:1',
    clusterDomain: env.KVRING_E2E_CLUSTER_DOMAIN ?? 'cluster.local',
  };
}

function builtKubectl(): string {
  try {
    return findBinaries(['kubectl'] as const).kubectl;
  } catch (err) {
    if (err instanceof MissingBinariesError) return 'kubectl';
    throw err;
  }
}
