// `make kind-e2e` (scripts/kind-e2e.sh) needs Docker, kind and the internet,
// none of which this machine has, so what is checked here is what a user meets
// before any of that: the script parses (and passes shellcheck), --help says
// how to use it, the kind config pins a node image of the Kubernetes the
// local cluster runs, and a machine that cannot run it gets a clear refusal
// naming the reason (no docker client, no engine answering, a cgroup v1 host)
// before anything is created. Then the run itself, with stand-ins for
// docker, kind, kubectl and helm that record their calls (the real ones need
// an engine and a network): the order of the phases, the settings chaos-mesh
// is installed with, and the cleanup a user relies on: the cluster is deleted
// after a failed phase, and a cluster that was there before is never touched.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
import { pinnedVersions } from '@kvring/control-plane';
import { REPO_ROOT } from './support/tools.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'kind-e2e.sh');
const CONFIG = join(REPO_ROOT, 'e2e', 'kind', 'cluster.yaml');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function onPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const BASH = onPath('bash') ?? '/bin/bash';

function run(args: string[], env: NodeJS.ProcessEnv, bin = BASH): Run {
  const r = spawnSync(bin, args, { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The environment without anything that would point the script at a real cluster or tool. */
function cleanEnv(path: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: path, HOME: process.env.HOME ?? tmpdir(), LANG: 'C' };
  return { ...env, ...extra };
}

let tmp: string;
/** This machine's PATH with every `docker` left out: each other program linked into one folder. */
let noDocker: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kind-e2e-test-'));
  noDocker = join(tmp, 'path-without-docker');
  mkdirSync(noDocker);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (f === 'docker' || existsSync(join(noDocker, f))) continue;
      symlinkSync(join(dir, f), join(noDocker, f));
    }
  }
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A folder with a `docker` that acts as `script` says, first on a PATH that is otherwise the real one. */
function fakeDocker(name: string, script: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'docker');
  writeFileSync(file, `#!${BASH}\n${script}\n`);
  chmodSync(file, 0o755);
  return [dir, process.env.PATH ?? ''].join(delimiter);
}

describe('scripts/kind-e2e.sh', () => {
  it('parses, and passes shellcheck where shellcheck is installed', () => {
    const syntax = run(['-n', SCRIPT], process.env);
    expect({ code: syntax.code, stderr: syntax.stderr }).toEqual({ code: 0, stderr: '' });
    const shellcheck = onPath('shellcheck');
    if (!shellcheck) {
      console.warn('shellcheck is not installed: only bash -n was checked');
      return;
    }
    const sc = run(['-x', SCRIPT], process.env, shellcheck);
    expect({ code: sc.code, out: sc.stdout }).toEqual({ code: 0, out: '' });
  });

  it('prints its usage and settings with --help, without docker', () => {
    const r = run([SCRIPT, '--help'], cleanEnv(noDocker));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('scripts/kind-e2e.sh [JEST_ARGS...]');
    for (const setting of [
      'KVRING_KIND_NAME=kvring-e2e',
      'KVRING_KIND_REUSE=1',
      'KVRING_KIND_KEEP=1',
      'KVRING_KIND_BUILD=0',
      'KVRING_KIND_CHAOS_MESH=0',
    ])
      expect(r.stdout).toContain(setting);
    expect(r.stdout).not.toMatch(/^#/m);
  });

  it('refuses to start without a docker client, saying so and where to get one', () => {
    expect(onPath('docker', noDocker)).toBeUndefined();
    const r = run([SCRIPT], cleanEnv(noDocker));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker: no docker client on PATH');
    expect(r.stderr).toContain('https://docs.docker.com/engine/install/');
    // Refused before the first phase: no cluster was asked for.
    expect(r.stderr).not.toContain('== kind cluster');
  });

  it('refuses to start when a docker client is there but no engine answers', () => {
    const path = fakeDocker(
      'no-engine',
      'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1',
    );
    const r = run([SCRIPT], cleanEnv(path));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker: the client is installed but no Docker engine answers');
    expect(r.stderr).toContain('Cannot connect to the Docker daemon');
    expect(r.stderr).not.toContain('== kind cluster');
  });

  it("says the same with this machine's own docker client pointed at a socket where no engine listens", () => {
    const docker = onPath('docker');
    const r = run(
      [SCRIPT],
      cleanEnv(process.env.PATH ?? '', { DOCKER_HOST: `unix://${join(tmp, 'no-engine.sock')}` }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(docker ? 'no Docker engine answers' : 'docker: no docker client on PATH');
    expect(r.stderr).not.toContain('== kind cluster');
  });

  it('refuses an engine on cgroup v1, which Kubernetes 1.35 node images do not run on', () => {
    const machine = arch() === 'arm64' ? 'aarch64' : 'x86_64';
    const path = fakeDocker(
      'cgroup-v1',
      `if [ "$1" = info ]; then echo "29.0.0|1|linux|${machine}"; exit 0; fi; echo "unexpected: docker $*" >&2; exit 1`,
    );
    const r = run([SCRIPT], cleanEnv(path));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker: the engine runs on cgroup v1');
    expect(r.stderr).toContain('need cgroup v2');
    expect(r.stderr).not.toContain('unexpected: docker');
    expect(r.stderr).not.toContain('== kind cluster');
  });
});

describe('e2e/kind/cluster.yaml', () => {
  interface KindConfig {
    kind: string;
    apiVersion: string;
    name: string;
    nodes: { role: string; image?: string }[];
  }
  const text = readFileSync(CONFIG, 'utf8');
  const config = parse(text) as KindConfig;
  const script = readFileSync(SCRIPT, 'utf8');

  it("is a kind Cluster named as the script's default", () => {
    expect(config.kind).toBe('Cluster');
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(config.name).toBe('kvring-e2e');
    expect(script).toContain('name="${KVRING_KIND_NAME:-kvring-e2e}"');
    expect(config.nodes.map((n) => n.role)).toEqual(['control-plane']);
  });

  it('pins every node to the Kubernetes the local cluster runs, by digest', () => {
    const k8s = pinnedVersions().KUBERNETES_VERSION;
    expect(k8s).toMatch(/^v1\.35\.\d+$/);
    for (const node of config.nodes) {
      expect(node.image).toMatch(/^kindest\/node:v1\.35\.\d+@sha256:[0-9a-f]{64}$/);
      expect(node.image!.split('@')[0]).toBe(`kindest/node:${k8s}`);
    }
  });

  it('names the kind release the script pins, whose notes list that image', () => {
    const pinned = /^KIND_VERSION=(v\d+\.\d+\.\d+)$/m.exec(script)?.[1];
    expect(pinned).toBeDefined();
    expect(text).toContain(`kind ${pinned}'s release notes`);
    expect(text).toContain(`releases/tag/${pinned}`);
  });
});

/**
 * Stand-ins for the four tools: each appends its command line to calls.log and answers
 * what the script asks as a healthy machine would (cgroup v2, containerd image store).
 * `kind` keeps the cluster list in a file; FAIL_KIND_LOAD=1 makes `kind load` fail.
 */
function fakeTools(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const tool = (name: string, body: string) => {
    const f = join(dir, name);
    writeFileSync(f, `#!${BASH}\necho "${name} $*" >>"$STUB_DIR/calls.log"\n${body}\n`);
    chmodSync(f, 0o755);
  };
  tool(
    'docker',
    `case "$1 $2" in
  "info --format") case "$3" in *DriverStatus*) echo '[["driver-type","io.containerd.snapshotter.v1"]]' ;; *) echo "29.0.0|2|linux|$(uname -m)" ;; esac ;;
  "version --format") case "$3" in *Os*) echo linux/amd64 ;; *) echo 29.0.0 ;; esac ;;
  "image save") if [ "$3" = --help ]; then echo "  --platform string"; exit 0; fi
    while [ $# -gt 0 ]; do if [ "$1" = -o ]; then : >"$2"; fi; shift; done ;;
esac
exit 0`,
  );
  tool(
    'kind',
    `touch "$STUB_DIR/clusters"
case "$1 $2" in
  "version ") echo "kind v0.33.0 go1.25.1 linux/amd64" ;;
  "get clusters") cat "$STUB_DIR/clusters" ;;
  "get nodes") echo "$4-control-plane" ;;
  "get kubeconfig") echo "apiVersion: v1" ;;
  "create cluster") echo "$4" >>"$STUB_DIR/clusters" ;;
  "delete cluster") grep -vx -- "$4" "$STUB_DIR/clusters" >"$STUB_DIR/c.tmp"; mv "$STUB_DIR/c.tmp" "$STUB_DIR/clusters" ;;
  "load image-archive") [ "\${FAIL_KIND_LOAD:-}" != 1 ] || { echo "ERROR: failed to load image" >&2; exit 1; } ;;
esac
exit 0`,
  );
  tool(
    'kubectl',
    `case "$*" in
  *"version --client"*) echo '{"clientVersion": {"major": "1", "minor": "35"}}' ;;
  *"get crd podchaos.chaos-mesh.org"*) exit 1 ;;
esac
exit 0`,
  );
  tool('helm', 'exit 0');
}

describe('a run of scripts/kind-e2e.sh with stand-in tools', () => {
  const name = `kind-e2e-test-${process.pid}`;
  let stubs: string;
  let logs: string;
  let cache: string;
  let kubeconfig: string;

  beforeAll(() => {
    stubs = join(tmp, 'stubs');
    logs = join(tmp, 'logs');
    cache = join(tmp, 'cache');
    kubeconfig = join(cache, `${name}.kubeconfig`);
    fakeTools(stubs);
  });

  function kindRun(args: string[], extra: NodeJS.ProcessEnv = {}): Run & { calls: string[]; phases: string } {
    rmSync(join(stubs, 'calls.log'), { force: true });
    rmSync(logs, { recursive: true, force: true });
    const r = run(
      [SCRIPT, ...args],
      cleanEnv([stubs, noDocker].join(delimiter), {
        STUB_DIR: stubs,
        KVRING_KIND_NAME: name,
        KVRING_KIND_BUILD: '0',
        KVRING_E2E_LOGS: logs,
        KVRING_KIND_CACHE: cache,
        // Else the pinned builds in .cache/k8s would be preferred to the stand-ins.
        KVRING_E2E_KUBECTL: join(stubs, 'kubectl'),
        KVRING_E2E_HELM: join(stubs, 'helm'),
        ...extra,
      }),
    );
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return {
      ...r,
      calls: read(join(stubs, 'calls.log')).trim().split('\n'),
      phases: read(join(logs, 'phases.txt')),
    };
  }

  const kindCalls = (calls: string[]) =>
    calls
      .filter((c) => /^kind (create|load|delete|export)/.test(c))
      .map((c) => c.split(' ').slice(0, 3).join(' '));

  it('creates the cluster, loads the images, installs chaos-mesh, runs the suites, deletes the cluster', () => {
    // `jest --version` stands in for the suites: scripts/e2e.sh test passes its arguments to jest.
    const r = kindRun(['--version']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(kindCalls(r.calls)).toEqual([
      'kind create cluster',
      'kind load image-archive',
      'kind load image-archive',
      'kind load image-archive',
      'kind load image-archive',
      'kind delete cluster',
    ]);
    const create = r.calls.find((c) => c.startsWith('kind create cluster'))!;
    expect(create).toContain(`--name ${name} --config ${CONFIG} --kubeconfig ${kubeconfig}`);
    // The containerd image store: archives of the engine's platform only (kind#3795).
    expect(r.calls.filter((c) => c.startsWith('docker image save --platform linux/amd64'))).toHaveLength(4);
    expect(r.calls).toContain('docker pull --platform linux/amd64 busybox:1.36.1');
    expect(
      r.calls.some((c) => /^docker pull --platform linux\/amd64 prom\/prometheus:v3\.\d+\.\d+$/.test(c)),
    ).toBe(true);
    expect(r.calls).toContain('docker pull --platform linux/amd64 jaegertracing/jaeger:2.12.0');
    const helm = r.calls.find((c) => c.startsWith('helm'))!;
    expect(helm).toContain('install chaos-mesh chaos-mesh --repo https://charts.chaos-mesh.org --version 2.');
    expect(helm).toContain('--set chaosDaemon.runtime=containerd');
    expect(helm).toContain('--set chaosDaemon.socketPath=/run/containerd/containerd.sock');
    expect(r.phases.split('\n').map((l) => l.split(/\s{2,}/)[0])).toEqual([
      'kind cluster',
      'load images',
      'chaos-mesh',
      'suites',
      'delete cluster',
      '',
    ]);
    expect(r.stderr).toContain('kind-e2e total:');
  });

  it('deletes the cluster it created when a phase fails, and says which phase failed', () => {
    const r = kindRun([], { FAIL_KIND_LOAD: '1' });
    expect(r.code).not.toBe(0);
    expect(kindCalls(r.calls)).toEqual([
      'kind create cluster',
      'kind load image-archive',
      'kind export logs',
      'kind delete cluster',
    ]);
    expect(r.phases).toMatch(/^load images +[\d.]+s FAILED$/m);
    expect(r.calls.some((c) => c.startsWith('helm'))).toBe(false);
  });

  it('leaves a cluster of the same name alone unless told to reuse it', () => {
    writeFileSync(join(stubs, 'clusters'), `${name}\n`);
    const r = kindRun([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`a kind cluster named ${name} exists already: KVRING_KIND_REUSE=1`);
    expect(kindCalls(r.calls)).toEqual([]);
    expect(readFileSync(join(stubs, 'clusters'), 'utf8')).toBe(`${name}\n`);

    const reused = kindRun(['--version'], {
      KVRING_KIND_REUSE: '1',
      KVRING_KIND_KEEP: '1',
      KVRING_KIND_CHAOS_MESH: '0',
    });
    expect(reused.code).toBe(0);
    expect(kindCalls(reused.calls)).toEqual([
      'kind load image-archive',
      'kind load image-archive',
      'kind load image-archive',
      'kind load image-archive',
    ]);
    expect(reused.stderr).toContain('KVRING_KIND_KEEP=1: the cluster stays up');
    expect(readFileSync(join(stubs, 'clusters'), 'utf8')).toBe(`${name}\n`);
  });
});
