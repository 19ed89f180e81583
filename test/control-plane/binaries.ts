// Finds the Kubernetes binaries the tests run: $KUBEBUILDER_ASSETS when it
// holds them, else the cache scripts/k8s/build.sh fills
// (.cache/k8s/<version>/bin). Missing binaries are an error that says how
// to get them: a test that needs a real API server never skips silently.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type BinaryName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kubectl'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'coredns'
  | 'helm';

/** The pinned versions (scripts/k8s/versions.env). */
export function pinnedVersions(): Record<string, string> {
  const text = readFileSync(join(REPO_ROOT, 'scripts', 'k8s', 'versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where scripts/k8s/build.sh puts the binaries of the pinned version. */
export function defaultCacheDir(): string {
  return join(REPO_ROOT, '.cache', 'k8s', pinnedVersions().KUBERNETES_VERSION ?? 'unknown', 'bin');
}

export class MissingBinariesError extends Error {
  override readonly name = 'MissingBinariesError';
}

/** Absolute paths of the requested binaries; throws MissingBinariesError naming the fix. */
export function findBinaries<N extends BinaryName>(
  names: readonly N[],
  env: NodeJS.ProcessEnv = process.env,
  cacheDir = defaultCacheDir(),
): Record<N, string> {
  const version = pinnedVersions().KUBERNETES_VERSION ?? 'unknown';
  const dirs = [...(env.KUBEBUILDER_ASSETS ? [env.KUBEBUILDER_ASSETS] : []), cacheDir];
  for (const dir of dirs) {
    if (names.every((n) => executable(join(dir, n)))) {
      return Object.fromEntries(names.map((n) => [n, join(dir, n)])) as Record<N, string>;
    }
  }
  const missing = names.filter((n) => !dirs.some((d) => executable(join(d, n))));
  throw new MissingBinariesError(
    `Kubernetes test binaries not found: ${missing.join(', ')} ` +
      `(looked in ${dirs.join(' and ')}). Run scripts/k8s/build.sh ${names.join(' ')} ` +
      `(builds Kubernetes ${version} from the Go module proxy into .cache/k8s/; about 7 minutes cold, ` +
      `seconds when cached), or set KUBEBUILDER_ASSETS to a folder that holds them.`,
  );
}
