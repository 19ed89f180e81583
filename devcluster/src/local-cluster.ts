// Real node processes on loopback addresses: each node its own 127.x.y.z
// address with the default ports, as in a cluster. Used by `make run`, the
// integration and chaos tests, and the benchmark. Runs the compiled node
// (its package's dist/), so build first.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from './process.js';

// The programs come from their packages (workspace links in a checkout),
// found the way Node finds a package: node_modules/<name> in this folder or
// an ancestor. So this room never reaches into another's sources.
function programOf(pkg: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', pkg);
    if (existsSync(join(candidate, 'package.json'))) return join(candidate, 'dist', 'main.js');
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(
        `package ${pkg} not found in any node_modules above ${fileURLToPath(import.meta.url)}: run \`npm ci\``,
      );
    dir = parent;
  }
}
export const NODE_MAIN = programOf('@kvring/node');
export const LEGACY_MAIN = programOf('@kvring/demo-legacy');

export interface LocalClusterOptions {
  /** Node count (default 3). */
  readonly nodes?: number;
  /** First three octets of the node addresses, e.g. "127.0.0" gives 127.0.0.1, 127.0.0.2, ... */
  readonly subnet?: string;
  readonly postgresUrl: string;
  readonly legacyUrl?: string;
  /** Extra KVRING_* settings for every node. */
  readonly env?: Readonly<Record<string, string>>;
  /** Settings of one node (by index), over `env`. */
  readonly nodeEnv?: (index: number) => Readonly<Record<string, string>>;
  readonly logDir?: string;
  readonly echo?: boolean;
  /** Member name prefix (default "kv"): members are kv-0, kv-1, ... */
  readonly namePrefix?: string;
  /** Options of the node runtime before the program (e.g. --cpu-prof; NODE_OPTIONS refuses that one). */
  readonly execArgv?: readonly string[];
  /**
   * The node program of member i (default NODE_MAIN, this checkout's): a
   * mixed-version cluster runs an older build's dist/main.js on some.
   */
  readonly program?: (index: number) => string;
}

export class LocalNode extends Child {
  constructor(
    readonly name: string,
    readonly host: string,
    env: Record<string, string>,
    logFile: string,
    echo: boolean,
    execArgv: readonly string[] = [],
    program: string = NODE_MAIN,
  ) {
    super({ name, command: process.execPath, args: [...execArgv, program], env, logFile, echo });
  }

  /** The node program this member runs (its dist/main.js, the last argument). */
  get program(): string {
    return this.spec.args[this.spec.args.length - 1]!;
  }

  /** Runs another node program from the next start on (an upgrade or a rollback of this member). */
  useProgram(main: string): void {
    this.spec = { ...this.spec, args: [...this.spec.args.slice(0, -1), main] };
  }

  get clientAddress(): string {
    return `${this.host}:50051`;
  }

  get httpUrl(): string {
    return `http://${this.host}:8080`;
  }

  /** Starts the process and waits until /readyz answers 200. */
  async startReady(timeoutMs = 30_000): Promise<void> {
    this.start();
    await waitReady(this, timeoutMs);
  }
}

export class LocalCluster {
  constructor(
    readonly nodes: readonly LocalNode[],
    readonly logDir: string,
  ) {}

  get clientAddresses(): string[] {
    return this.nodes.map((n) => n.clientAddress);
  }

  node(name: string): LocalNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    for (const n of this.nodes) n.closeLog();
  }

  /** Starts every stopped node and waits for all to be ready. */
  async startAll(timeoutMs = 30_000): Promise<void> {
    for (const n of this.nodes) n.start();
    await Promise.all(this.nodes.map((n) => waitReady(n, timeoutMs)));
    await this.waitConverged(timeoutMs);
  }

  /**
   * Waits until every running node sees every other running node up (ready
   * only says a node's own dependencies answer; its peer streams may still
   * be reconnecting).
   */
  async waitConverged(timeoutMs = 30_000): Promise<void> {
    const running = new Set(this.nodes.filter((n) => n.running).map((n) => n.name));
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const views = await Promise.all(
        this.nodes
          .filter((n) => running.has(n.name))
          .map(async (n) => {
            try {
              const res = await fetch(`${n.httpUrl}/status`, { signal: AbortSignal.timeout(1000) });
              return { node: n.name, status: (await res.json()) as StatusView };
            } catch (err) {
              return { node: n.name, error: (err as Error).message };
            }
          }),
      );
      const lagging = views.flatMap((v) =>
        'error' in v
          ? [`${v.node}: ${v.error}`]
          : v.status.members
              .filter((m) => running.has(m.name) && m.state !== 1 && m.state !== 3)
              .map((m) => `${v.node} sees ${m.name} down`),
      );
      if (lagging.length === 0) return;
      last = lagging.join('; ');
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`cluster did not converge within ${timeoutMs} ms: ${last}`);
  }
}

/** A random 127.x.y subnet, so concurrent test suites never share an address. */
export function randomSubnet(): string {
  return `127.${10 + Math.floor(Math.random() * 240)}.${1 + Math.floor(Math.random() * 250)}`;
}

export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  if (!existsSync(NODE_MAIN)) throw new Error(`${NODE_MAIN} is missing: run \`make build\` first`);
  const count = opts.nodes ?? 3;
  const subnet = opts.subnet ?? randomSubnet();
  const prefix = opts.namePrefix ?? 'kv';
  const logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'kvring-cluster-'));
  const members = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    host: `${subnet}.${i + 1}`,
  }));
  const peers = members.map((m) => `${m.name}=${m.host}:50052`).join(',');
  const nodes = members.map(
    (m, i) =>
      new LocalNode(
        m.name,
        m.host,
        {
          KVRING_NODE_NAME: m.name,
          KVRING_HOST: m.host,
          KVRING_PEERS: peers,
          KVRING_POSTGRES_URL: opts.postgresUrl,
          KVRING_LEGACY_URL: opts.legacyUrl ?? '',
          ...opts.env,
          ...opts.nodeEnv?.(i),
        },
        join(logDir, `${m.name}.log`),
        opts.echo ?? false,
        opts.execArgv,
        opts.program?.(i),
      ),
  );
  const cluster = new LocalCluster(nodes, logDir);
  try {
    await cluster.startAll();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

interface StatusView {
  members: Array<{ name: string; state: number }>;
}

async function waitReady(n: LocalNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!n.running) throw new Error(`node ${n.name} exited while starting:\n${n.output().slice(-4000)}`);
    try {
      const res = await fetch(`${n.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      last = await res.text();
      if (res.status === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `node ${n.name} not ready after ${timeoutMs} ms (${last.trim()}):\n${n.output().slice(-4000)}`,
  );
}
