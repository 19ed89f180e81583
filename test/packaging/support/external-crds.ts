// The published CustomResourceDefinitions of the projects whose objects
// manifests/ holds or the operator creates (chaos-mesh experiments,
// prometheus-operator monitors and rules, cert-manager Certificates), so
// that the test API server validates them with the real schemas. The
// projects ship their CRD YAML inside their Go modules; `go mod
// download` fetches a pinned version through the Go module proxy into the
// shared Go cache outside the clone (the one scripts/k8s/build.sh uses), so a
// second run reads them from disk.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools.js';

interface ModuleFiles {
  module: string;
  version: string;
  files: string[];
}

/**
 * chaos-mesh: its v2 tags lack a /v2 module path and the proxy serves no
 * +incompatible versions of them, so the pin is a pseudo-version of the
 * main branch (API chaos-mesh.org/v1alpha1, unchanged since 2.0).
 */
export const CHAOS_MESH: ModuleFiles = {
  module: 'github.com/chaos-mesh/chaos-mesh',
  version: 'v0.9.1-0.20260902003049-47411975a8cb',
  files: ['manifests/crd.yaml'],
};

export const PROMETHEUS_OPERATOR: ModuleFiles = {
  module: 'github.com/prometheus-operator/prometheus-operator',
  version: 'v0.85.0',
  files: [
    'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
    'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
    'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
  ],
};

/** The library module (its binaries are separate modules the proxy does not serve; the CRDs are here). */
export const CERT_MANAGER: ModuleFiles = {
  module: 'github.com/cert-manager/cert-manager',
  version: 'v1.21.2',
  files: ['deploy/crds/cert-manager.io_certificates.yaml', 'deploy/crds/cert-manager.io_clusterissuers.yaml'],
};

function goCache(): string {
  return (
    process.env.KVRING_GO_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kvring-go')
  );
}

/** Absolute paths of a module's CRD files, downloading the module when needed. */
export async function crdFiles(m: ModuleFiles): Promise<string[]> {
  const env = {
    ...process.env,
    GOMODCACHE: join(goCache(), 'mod'),
    GOCACHE: join(goCache(), 'build'),
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-mod=mod',
  };
  // Outside any module: `go mod download` of an explicit version needs none.
  const cwd = mkdtempSync(join(tmpdir(), 'kvring-gomod-'));
  try {
    const r = await run('go', ['mod', 'download', '-json', `${m.module}@${m.version}`], {
      cwd,
      env,
      timeoutMs: 300_000,
    }).catch((err: Error) => {
      throw new Error(
        `cannot fetch the ${m.module} CRDs: ${err.message} (Go and the Go module proxy are needed; see TOOLCHAIN.md)`,
      );
    });
    const info = JSON.parse(r.stdout || '{}') as { Dir?: string; Error?: string };
    if (r.code !== 0 || !info.Dir)
      throw new Error(`go mod download ${m.module}@${m.version} failed: ${info.Error ?? r.stderr}`);
    const paths = m.files.map((f) => join(info.Dir!, f));
    const missing = paths.filter((p) => !existsSync(p));
    if (missing.length > 0) throw new Error(`${m.module}@${m.version} has no ${missing.join(', ')}`);
    return paths;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}
