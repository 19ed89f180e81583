// Which Kubernetes API the operator talks to, in the usual order:
// --kubeconfig, then $KUBECONFIG, then the pod's service account
// (in-cluster), then ~/.kube/config. Unlike KubeConfig.loadFromDefault it
// never falls back to http://localhost:8080: no configuration is an error
// that says what to do.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadedKubeConfig {
  kc: KubeConfig;
  /** Where it came from, for the start-up log. */
  source: string;
}

export function loadKubeConfig(flag?: string, env: NodeJS.ProcessEnv = process.env): LoadedKubeConfig {
  const kc = new KubeConfig();
  if (flag) {
    kc.loadFromFile(flag);
    return { kc, source: `--kubeconfig ${flag}` };
  }
  if (env.KUBECONFIG) {
    // loadFromDefault reads (and merges) every path in $KUBECONFIG first.
    kc.loadFromDefault();
    return { kc, source: `KUBECONFIG=${env.KUBECONFIG}` };
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    return { kc, source: 'in-cluster service account' };
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) {
    kc.loadFromFile(home);
    return { kc, source: home };
  }
  throw new Error(
    'no Kubernetes configuration found: pass --kubeconfig PATH, set KUBECONFIG, or run inside a pod with a service account',
  );
}

/** The namespace the operator runs in (for its Lease): POD_NAMESPACE, the service account's, the context's. */
export function ownNamespace(kc: KubeConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    const ns = readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || 'default';
}
