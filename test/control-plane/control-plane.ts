// A real Kubernetes control plane for tests: etcd and kube-apiserver on
// loopback, on free ports, with certificates generated for this run, RBAC
// on, a service-account signing key, and a kubeconfig for an admin user.
// crds/ is applied once the API is ready. stop() kills both processes and
// removes the directory; an exit hook does the same if the test process
// dies first, so no etcd or API server outlives its test.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { findBinaries, REPO_ROOT } from './binaries.js';
import { clientCertificate, generatePki, type Pki } from './certs.js';
import { freePort } from './ports.js';
import { run, type RunResult } from './run.js';

export interface ControlPlaneOptions {
  /** kubectl apply -f crds/ and wait for the CRDs to be established (default true). */
  installCrds?: boolean;
  /** Extra kube-apiserver flags (e.g. --advertise-address for a cluster with real nodes). */
  apiServerFlags?: string[];
  /** Give up on start-up after this long (default 120 s; a cold API server on a busy machine is slow). */
  startTimeoutMs?: number;
}

/** What kubectl() answers: exit code and output. */
export type CommandResult = RunResult;

const live = new Set<ControlPlane>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cp of live) cp.killNow();
  });
}

export class ControlPlane {
  readonly kubeconfigPath: string;
  private readonly procs: { name: string; proc: ChildProcess; log: string }[] = [];
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly pki: Pki,
    readonly server: string,
    readonly bin: { etcd: string; 'kube-apiserver': string; kubectl: string },
  ) {
    this.kubeconfigPath = join(dir, 'kubeconfig');
  }

  /** Starts etcd and kube-apiserver; resolves when /readyz answers ok (and crds/ is established). */
  static async start(o: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const bin = findBinaries(['etcd', 'kube-apiserver', 'kubectl'] as const);
    const dir = mkdtempSync(join(tmpdir(), 'kvring-cp-'));
    let cp: ControlPlane | undefined;
    try {
      const pki = await generatePki(dir);
      const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
      cp = new ControlPlane(dir, pki, `https://127.0.0.1:${apiPort}`, bin);
      live.add(cp);
      installExitHook();
      const deadline = Date.now() + (o.startTimeoutMs ?? 120_000);

      cp.spawn('etcd', bin.etcd, [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
        // A test cluster loses nothing worth an fsync.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]);
      await cp.waitFor('etcd', deadline, async () => {
        const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      });

      cp.spawn('kube-apiserver', bin['kube-apiserver'], [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        // No nodes: the "kubernetes" endpoints would point at loopback, which validation refuses.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...(o.apiServerFlags ?? []),
      ]);
      cp.writeKubeconfig();
      await cp.waitFor('kube-apiserver', deadline, () => cp!.readyz());
      if (o.installCrds ?? true) await cp.installCrds();
      return cp;
    } catch (err) {
      const logs = cp ? cp.logTails() : '';
      await cp?.stop();
      if (!cp) rmSync(dir, { recursive: true, force: true });
      throw new Error(`${(err as Error).message}${logs ? `\n${logs}` : ''}`, { cause: err });
    }
  }

  /** A KubeConfig for the admin user. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** Runs kubectl against this control plane. */
  kubectl(args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    // A discovery cache of its own: ~/.kube/cache is keyed by host:port, and ports are reused.
    const common = [`--kubeconfig=${this.kubeconfigPath}`, `--cache-dir=${join(this.dir, 'kubectl-cache')}`];
    return run(this.bin.kubectl, [...common, ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 60_000 });
  }

  /** kubectl that must succeed; returns stdout. */
  async kubectlOk(args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.kubectl(args, o);
    if (r.code !== 0)
      throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async installCrds(): Promise<void> {
    await this.kubectlOk(['apply', '-f', join(REPO_ROOT, 'crds')]);
    await this.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    // Established is set before discovery and the OpenAPI document (which
    // `kubectl explain` reads) show the new kind: wait for both.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const r = await this.kubectl([
        'api-resources',
        '--api-group=kvring.dev',
        '-o',
        'name',
        '--cached=false',
      ]);
      const o = await this.kubectl(['get', '--raw', '/openapi/v3']);
      // And what users run: explain reads kubectl's own discovery cache,
      // which can lag behind the two checks above.
      const e =
        r.code === 0 && r.stdout.includes('kvclusters') && o.stdout.includes('apis/kvring.dev/v1alpha1')
          ? await this.kubectl(['explain', 'kvc.spec.replicas'])
          : undefined;
      if (e?.code === 0) return;
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error('the KVCluster kind did not appear in API discovery and OpenAPI within 60 s');
  }

  /**
   * A kubeconfig for another user (client certificate CN=user, O=groups),
   * to test what RBAC lets that user do. Returns its path.
   */
  async userKubeconfig(user: string, groups: readonly string[] = []): Promise<string> {
    const file = user.replace(/[^a-zA-Z0-9-]/g, '_');
    const { cert, key } = await clientCertificate(this.pki, `user-${file}`, user, groups);
    const path = join(this.dir, `kubeconfig-${file}`);
    this.writeKubeconfig(path, { cert, key });
    return path;
  }

  /** The last lines each process logged (for failure messages). */
  logTails(lines = 30): string {
    return this.procs
      .map(({ name, log }) => {
        let text = '';
        try {
          text = readFileSync(log, 'utf8');
        } catch {
          // not written yet
        }
        return `--- ${name} (last ${lines} lines) ---\n${text.split('\n').slice(-lines).join('\n')}`;
      })
      .join('\n');
  }

  /** Stops both processes (API server first) and removes the directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.procs].reverse()) await terminate(p.proc, 10_000);
    live.delete(this);
    if (process.env.KVRING_KEEP_TEST_DIRS) console.log(`control plane files kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort for the exit hook. */
  killNow(): void {
    for (const { proc } of this.procs)
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    try {
      if (!process.env.KVRING_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }

  private spawn(name: string, path: string, args: string[]): void {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const proc = spawn(path, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.procs.push({ name, proc, log });
  }

  private async waitFor(name: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
    const entry = this.procs.find((p) => p.name === name)!;
    let lastErr = '';
    while (Date.now() < deadline) {
      if (entry.proc.exitCode !== null || entry.proc.signalCode !== null)
        throw new Error(`${name} exited (${entry.proc.exitCode ?? entry.proc.signalCode}) during start-up`);
      try {
        if (await check()) return;
      } catch (err) {
        lastErr = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${name} did not become ready in time${lastErr ? ` (last error: ${lastErr})` : ''}`);
  }

  private readyz(): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.server}/readyz`,
        {
          ca: readFileSync(this.pki.caCert),
          cert: readFileSync(this.pki.adminCert),
          key: readFileSync(this.pki.adminKey),
          timeout: 5_000,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('readyz timed out')));
      req.end();
    });
  }

  /**
   * Writes a kubeconfig for this API server (mode 0600): the admin's
   * certificate by default, another client certificate, or a bearer token
   * (a ServiceAccount's, from `kubectl create token`).
   */
  writeKubeconfig(
    path = this.kubeconfigPath,
    credentials: { cert: string; key: string } | { token: string } = {
      cert: this.pki.adminCert,
      key: this.pki.adminKey,
    },
    namespace = 'default',
  ): string {
    const b64 = (p: string): string => readFileSync(p).toString('base64');
    const user =
      'token' in credentials
        ? [`    token: ${credentials.token}`]
        : [
            `    client-certificate-data: ${b64(credentials.cert)}`,
            `    client-key-data: ${b64(credentials.key)}`,
          ];
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${this.server}`,
        `    certificate-authority-data: ${b64(this.pki.caCert)}`,
        'users:',
        '- name: user',
        '  user:',
        ...user,
        'contexts:',
        '- name: test',
        `  context: {cluster: test, user: user, namespace: ${namespace}}`,
        'current-context: test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return path;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function terminate(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
