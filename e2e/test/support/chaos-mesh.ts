// chaos-mesh in the cluster for scenario 9: find an installed controller
// manager (a real chaos-mesh Helm release on kind, say), or install the one
// scripts/chaos-mesh/build.sh built with the manifests in e2e/chaos-mesh/:
// its CRDs, a webhook certificate made here with openssl, RBAC, the
// Deployment and the admission webhooks; and take it away again.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@kvring/control-plane';
import { eventually } from '@kvring/control-plane';
import type { Kubectl } from './kubectl.js';

export const CHAOS_MESH_NS = 'chaos-mesh';
export const CHAOS_MESH_MANIFESTS = join(REPO_ROOT, 'e2e', 'chaos-mesh');
export const CHAOS_DIR = join(REPO_ROOT, 'manifests', 'chaos');
/** Marks the objects e2e/chaos-mesh/ installs, so an uninstall never touches someone else's chaos-mesh. */
export const OURS = 'app.kubernetes.io/managed-by=kvring-e2e';
const CONTROLLER = 'app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=controller-manager';
const WEBHOOK_SERVICE = `chaos-mesh-controller-manager.${CHAOS_MESH_NS}.svc`;

/** The pin in scripts/chaos-mesh/versions.env. */
export function chaosMeshPin(): { version: string; image: string; cacheDir: string } {
  const text = readFileSync(join(REPO_ROOT, 'scripts', 'chaos-mesh', 'versions.env'), 'utf8');
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  const version = vars.CHAOS_MESH_VERSION;
  const image = vars.CHAOS_MESH_IMAGE;
  if (!version || !image)
    throw new Error('scripts/chaos-mesh/versions.env lacks CHAOS_MESH_VERSION or _IMAGE');
  return {
    version,
    image: process.env.KVRING_E2E_CHAOS_MESH_IMAGE ?? image,
    cacheDir: join(REPO_ROOT, '.cache', 'chaos-mesh', version),
  };
}

export interface ControllerView {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  status?: { availableReplicas?: number };
}

/** chaos-mesh controller managers anywhere in the cluster (the chart's labels). */
export async function findControllers(k: Kubectl): Promise<ControllerView[]> {
  const crd = await k.run(['get', 'crd', 'podchaos.chaos-mesh.org', '-o', 'name']);
  if (crd.code !== 0) return [];
  const list = await k.json<{ items: ControllerView[] }>(['get', 'deployments', '-A', '-l', CONTROLLER]);
  return list.items;
}

export function isOurs(d: ControllerView): boolean {
  return d.metadata.labels?.['app.kubernetes.io/managed-by'] === 'kvring-e2e';
}

interface Certs {
  ca: string;
  crt: string;
  key: string;
}

/** A CA and a serving certificate for the webhook Service, made with openssl (valid 2 days). */
export async function webhookCerts(): Promise<Certs> {
  const dir = mkdtempSync(join(tmpdir(), 'kvring-chaos-certs-'));
  const ssl = (args: string[]) => openssl(args, dir);
  try {
    await ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    await ssl([
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=chaos-mesh-e2e-ca',
      '-days',
      '2',
      '-out',
      'ca.crt',
    ]);
    await ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'tls.key']);
    await ssl(['req', '-new', '-key', 'tls.key', '-subj', `/CN=${WEBHOOK_SERVICE}`, '-out', 'tls.csr']);
    const san = [
      WEBHOOK_SERVICE,
      `${WEBHOOK_SERVICE}.cluster.local`,
      `chaos-mesh-controller-manager.${CHAOS_MESH_NS}`,
    ]
      .map((n) => `DNS:${n}`)
      .join(',');
    const ext = join(dir, 'ext.cnf');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`),
    );
    await ssl(
      ['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        'tls.crt',
      ]),
    );
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return { ca: read('ca.crt'), crt: read('tls.crt'), key: read('tls.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The webhook certificate in the cluster, if there is one valid for at least another hour. */
async function currentCerts(k: Kubectl): Promise<Certs | undefined> {
  const r = await k.run(['-n', CHAOS_MESH_NS, 'get', 'secret', 'chaos-mesh-webhook-certs', '-o', 'json']);
  if (r.code !== 0) return undefined;
  const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
  const dec = (key: string) => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
  const certs = { ca: dec('ca.crt'), crt: dec('tls.crt'), key: dec('tls.key') };
  try {
    const crt = new X509Certificate(certs.crt);
    const fresh = new Date(crt.validTo).getTime() > Date.now() + 3_600_000;
    return fresh &&
      crt.checkHost(WEBHOOK_SERVICE) !== undefined &&
      crt.checkIssued(new X509Certificate(certs.ca))
      ? certs
      : undefined;
  } catch {
    return undefined;
  }
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve();
    });
  });
}

/** The install's steps, timed, for the report. */
export interface InstallTimes {
  crdsMs: number;
  controllerMs: number;
}

/**
 * Installs (or re-applies) the controller of e2e/chaos-mesh/: CRDs from the module
 * (server-side: crd.yaml's objects are too large for the client-side annotation),
 * the namespace, the certificate Secret, RBAC, the Deployment, the webhooks.
 */
export async function installChaosMesh(k: Kubectl): Promise<InstallTimes> {
  const pin = chaosMeshPin();
  const crds = join(pin.cacheDir, 'crd.yaml');
  if (!existsSync(crds))
    throw new Error(
      `${crds} is missing: run scripts/chaos-mesh/build.sh (it builds the controller and keeps its CRDs)`,
    );
  let t = Date.now();
  await k.ok(['apply', '--server-side', '--force-conflicts', '-f', crds], { timeoutMs: 120_000 });
  await k.ok(
    [
      'wait',
      '--for=condition=Established',
      'crd/podchaos.chaos-mesh.org',
      'crd/schedules.chaos-mesh.org',
      '--timeout=60s',
    ],
    {
      timeoutMs: 70_000,
    },
  );
  const crdsMs = Date.now() - t;

  t = Date.now();
  const m = (f: string) => join(CHAOS_MESH_MANIFESTS, f);
  await k.ok(['apply', '-f', m('namespace.yaml')]);
  // The certificate of an earlier install is kept while it is valid: a new one
  // would need the running controller restarted (and its leader Lease to expire).
  const kept = await currentCerts(k);
  const certs = kept ?? (await webhookCerts());
  if (!kept) {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'chaos-mesh-webhook-certs',
        namespace: CHAOS_MESH_NS,
        labels: { 'app.kubernetes.io/name': 'chaos-mesh', 'app.kubernetes.io/managed-by': 'kvring-e2e' },
      },
      type: 'Opaque',
      stringData: { 'ca.crt': certs.ca, 'tls.crt': certs.crt, 'tls.key': certs.key },
    };
    await k.apply(JSON.stringify(secret));
  }
  await k.ok(['apply', '-f', m('rbac.yaml')]);
  const existed =
    (await k.run(['-n', CHAOS_MESH_NS, 'get', 'deployment', 'chaos-controller-manager', '-o', 'name']))
      .code === 0;
  const deployment = readFileSync(m('controller-manager.yaml'), 'utf8').replace(
    /image: kvring\.local\/e2e\/chaos-controller-manager:\S+/,
    `image: ${pin.image}`,
  );
  await k.apply(deployment);
  if (existed && !kept)
    await k.ok(['-n', CHAOS_MESH_NS, 'rollout', 'restart', 'deployment/chaos-controller-manager']);
  const hooks = readFileSync(m('webhooks.yaml.in'), 'utf8').replaceAll(
    '${CA_BUNDLE}',
    Buffer.from(certs.ca).toString('base64'),
  );
  await k.apply(hooks);
  return { crdsMs, controllerMs: Date.now() - t };
}

/**
 * Waits (bounded) for a controller manager to be available, its admission
 * webhooks to answer (a server-side dry run of the PodChaos goes through
 * them) and, when `workersLog` is set, for its PodChaos controller to have
 * started (it logs so once it leads and its caches synced: a pod is Ready
 * before that). Returns the time it took in ms.
 */
export async function waitChaosMeshReady(
  k: Kubectl,
  namespace: string,
  timeoutMs: number,
  workersLog = true,
): Promise<number> {
  const t0 = Date.now();
  await eventually(
    async () => {
      const pods = await k.json<{
        items: {
          metadata: { name: string };
          status: { containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] };
        }[];
      }>(['-n', namespace, 'get', 'pods', '-l', CONTROLLER]);
      // An image that is not in the node's containerd never comes: say how to load it.
      for (const p of pods.items)
        for (const s of p.status.containerStatuses ?? [])
          if (/ErrImage|ImagePull/.test(s.state?.waiting?.reason ?? ''))
            throw new Error(
              `${p.metadata.name}: ${s.state?.waiting?.reason} (${s.state?.waiting?.message ?? ''}); ` +
                'load the image: scripts/e2e.sh import "$(scripts/chaos-mesh/build.sh --print-image)"',
            );
      const r = await k.run([
        '-n',
        namespace,
        'rollout',
        'status',
        'deployment',
        '-l',
        CONTROLLER,
        '--timeout=2s',
      ]);
      if (r.code !== 0) return undefined;
      const dry = await k.run(['apply', '--dry-run=server', '-f', join(CHAOS_DIR, 'pod-kill.yaml')]);
      if (dry.code !== 0) return undefined;
      if (!workersLog) return true;
      // The leader (LeaderElectionID "chaos-mesh"): its holder is `<pod>_<uuid>`.
      const lease = await k.run([
        '-n',
        namespace,
        'get',
        'lease',
        'chaos-mesh',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      const leader = lease.stdout.split('_')[0];
      if (lease.code !== 0 || !leader || !pods.items.some((p) => p.metadata.name === leader))
        return undefined;
      const logs = await k.run(['-n', namespace, 'logs', leader, '--tail=-1'], { timeoutMs: 30_000 });
      return /Starting workers.*"controller": "podchaos-pipeline"/.test(logs.stdout) ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `chaos-mesh's controller manager in ${namespace} available, its webhooks answering${workersLog ? ', its PodChaos controller started on the leader' : ''}`,
    },
  );
  return Date.now() - t0;
}

/** Removes what installChaosMesh made (webhooks first: they would refuse chaos objects once the controller is gone). */
export async function uninstallChaosMesh(k: Kubectl): Promise<void> {
  await k.ok([
    'delete',
    'mutatingwebhookconfiguration,validatingwebhookconfiguration',
    '-l',
    OURS,
    '--ignore-not-found',
  ]);
  await k.ok(['delete', 'namespace', CHAOS_MESH_NS, '--ignore-not-found', '--wait=true', '--timeout=90s'], {
    timeoutMs: 100_000,
  });
  await k.ok(['delete', 'clusterrolebinding,clusterrole', '-l', OURS, '--ignore-not-found']);
  await k.ok(['delete', 'rolebinding,role', '-A', '-l', OURS, '--ignore-not-found']);
  const pin = chaosMeshPin();
  await k.ok(
    ['delete', '-f', join(pin.cacheDir, 'crd.yaml'), '--ignore-not-found', '--wait=true', '--timeout=90s'],
    {
      timeoutMs: 100_000,
    },
  );
}

/** The parts of a PodChaos (chaos-mesh.org/v1alpha1) the scenario reads. */
export interface PodChaosView {
  metadata: { name: string; uid: string; creationTimestamp: string };
  status?: {
    conditions?: { type: string; status: string; reason?: string }[];
    experiment?: {
      desiredPhase?: string;
      containerRecords?: {
        id: string;
        phase: string;
        injectedCount: number;
        events?: { type: string; operation: string; message?: string; timestamp: string }[];
      }[];
    };
  };
}
