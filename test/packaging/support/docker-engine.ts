// The image test's Docker engine: Debian's dockerd started by
// scripts/image/dockerd.sh in a network namespace of its own (through
// scripts/image/build.sh, which also builds the images), the docker CLI
// pointed at it, and HTTP requests made from inside that namespace, the
// only place its containers can be reached from.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, run, runOk, type RunResult } from './tools.js';

const SCRIPTS = join(REPO_ROOT, 'scripts', 'image');

/** Why the image test cannot run on this machine, or undefined when it can. */
export function imageTestUnavailable(): string | undefined {
  if (process.platform !== 'linux')
    return `Docker images are built and run on Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0)
    return 'a private dockerd, debootstrap and network namespaces need root (run the tests as root, or `make image` on a machine with Docker)';
  for (const tool of ['nsenter', 'unshare', 'ip', 'flock', 'curl'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  return undefined;
}

export function dockerCli(): string {
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

/**
 * An exclusive lock held by a helper process (flock on `path`): two runs of
 * the image test never share an engine. Released by release(), or by the
 * helper's exit when this process dies (its stdin closes).
 */
export async function holdLock(path: string, timeoutMs: number): Promise<{ release(): void }> {
  const child = spawn(
    'flock',
    ['-w', String(Math.ceil(timeoutMs / 1000)), path, '-c', 'echo locked; exec cat'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`could not lock ${path} (flock exit ${code})`)));
  });
  return { release: () => child.stdin.end() };
}

export interface BuildOutcome {
  engine: PrivateEngine;
  /** build.sh's log lines (timings of each step). */
  log: string[];
}

export class PrivateEngine {
  private constructor(
    readonly stateDir: string,
    readonly host: string,
    readonly netns: string,
  ) {}

  /**
   * Builds every image with scripts/image/build.sh on a private engine whose
   * state is `stateDir`, and leaves the engine running for the test.
   */
  static async build(stateDir: string, timeoutMs: number): Promise<BuildOutcome> {
    const r = await run(
      'bash',
      [join(SCRIPTS, 'build.sh'), '--engine', 'private', '--state', stateDir, '--keep-engine', '--no-save'],
      // The caller holds the engine's lock (holdLock) for the whole test.
      { timeoutMs, env: { ...process.env, KVRING_IMAGE_LOCK_HELD: '1' } },
    );
    const log = r.stderr.split('\n').filter((l) => l.startsWith('[image]'));
    const host = /^DOCKER_HOST=(\S+)$/m.exec(r.stdout)?.[1];
    if (r.code !== 0 || !host)
      throw new Error(`scripts/image/build.sh failed (exit ${r.code}):\n${r.stderr.slice(-6000)}`);
    const netns = (await runOk('bash', [join(SCRIPTS, 'dockerd.sh'), 'netns', stateDir])).trim();
    return { engine: new PrivateEngine(stateDir, host, netns), log };
  }

  /** Stops the engine (containers, shims, namespace), also after a failure. */
  static stopSync(stateDir: string): void {
    spawnSync('bash', [join(SCRIPTS, 'dockerd.sh'), 'stop', stateDir], { stdio: 'ignore', timeout: 60_000 });
  }

  docker(args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
    return run(dockerCli(), args, { env: { ...process.env, DOCKER_HOST: this.host }, timeoutMs });
  }

  async dockerOk(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    const r = await this.docker(args, timeoutMs);
    if (r.code !== 0)
      throw new Error(`docker ${args.join(' ')} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  }

  /** GET from inside the engine's network namespace; status 0 when nothing answered. */
  async get(url: string): Promise<{ status: number; body: string }> {
    const r = await run('nsenter', [
      `--net=${this.netns}`,
      'curl',
      '-s',
      '-m',
      '5',
      '-w',
      '\n%{http_code}',
      url,
    ]);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)) || 0, body: r.stdout.slice(0, cut) };
  }

  async ip(container: string): Promise<string> {
    return this.dockerOk(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', container]);
  }

  async stop(): Promise<void> {
    await run('bash', [join(SCRIPTS, 'dockerd.sh'), 'stop', this.stateDir], { timeoutMs: 60_000 });
  }
}

/**
 * Makes 127.0.0.1:`port` inside the network namespace lead to
 * `target` on this machine's loopback: a listener in the namespace (a
 * node process started with nsenter) pipes each connection through a Unix
 * socket (file system, not network: visible from both sides) to a listener
 * here that connects to the target.
 */
export async function forwardIntoNetns(
  netns: string,
  port: number,
  target: { host: string; port: number },
  dir: string,
): Promise<{ stop(): Promise<void> }> {
  const sock = join(dir, `forward-${port}.sock`);
  const sockets = new Set<Socket>();
  const pipe = (a: Socket, b: Socket): void => {
    sockets.add(a);
    sockets.add(b);
    a.pipe(b);
    b.pipe(a);
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
  };
  const server: Server = createServer((c) => pipe(c, createConnection(target.port, target.host)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => resolve());
  });
  const script =
    "const net=require('net');const [sock,port]=process.argv.slice(1);" +
    'net.createServer(c=>{const u=net.connect(sock);c.pipe(u);u.pipe(c);' +
    "c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());c.on('close',()=>u.destroy());u.on('close',()=>c.destroy());})" +
    ".listen(Number(port),'127.0.0.1',()=>console.log('listening'));";
  const child: ChildProcess = spawn(
    'nsenter',
    [`--net=${netns}`, process.execPath, '-e', script, sock, String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the forwarder in the network namespace did not start')),
      10_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the forwarder in the network namespace exited (${code})`));
    });
  });
  return {
    async stop() {
      child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
