// One scenario's world: the namespaces, PostgreSQL on the host side
// (198.18.X.253), the demo legacy API (198.18.X.254) and three node
// processes, each in its own namespace. stop() takes all of it down, each
// step even when an earlier one failed.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startLegacyProcess, type LegacyProcess } from '../support/legacy.js';
import { FaultDns } from './dns.js';
import { FaultNode } from './fault-node.js';
import { NetTopology } from './netns.js';
import { waitMembersUp } from './probes.js';

export interface FaultEnvOptions {
  /** Where logs go (a directory per scenario). */
  readonly logDir: string;
  /** Where leftovers are listed until cleaned (namespaces, pids). */
  readonly registryDir: string;
  readonly nodes?: number;
  /** KVRING_* settings for every node. */
  readonly nodeEnv?: Record<string, string>;
  /** KVRING_* settings of single nodes, by index (over nodeEnv). */
  readonly perNodeEnv?: Readonly<Record<number, Record<string, string>>>;
  /** libfaketime offsets by node index, e.g. { 1: '-2h' }. */
  readonly faketime?: Readonly<Record<number, string>>;
  /**
   * Nodes beyond `nodes` that get a namespace and a FaultNode but are
   * neither started nor listed anywhere: a scale-up starts them.
   */
  readonly standby?: number;
  /**
   * Membership from DNS (FaultDns on the host side) instead of a static
   * KVRING_PEERS list, refreshed every `intervalMs`; the first `nodes` pods
   * are listed before they start.
   */
  readonly dns?: { readonly service: string; readonly intervalMs: number };
  /**
   * Node i starts i * startSpreadMs / nodes after node 0, so that periodic
   * work (a DNS refresh every interval) runs out of phase on the nodes, as
   * on pods started at different times (nodes started together refresh
   * within a few ms of each other and all adopt a change at once).
   */
  readonly startSpreadMs?: number;
}

/**
 * Settings that make failures show up within a test's time scale, and a
 * memory budget as in production: far smaller than what the workload
 * writes (its filler, workload.ts), so every node evicts all the time and
 * late hints, replication frames, handoff and anti-entropy rows meet
 * evicted slots. Scenarios aimed at repair windows drop the 1 s
 * anti-entropy interval for the default (ScenarioSpec.defaultAntiEntropy).
 */
export const FAULT_NODE_ENV: Record<string, string> = {
  KVRING_FAILURE_TIMEOUT: '1s',
  KVRING_PEER_TIMEOUT: '500ms',
  KVRING_ANTI_ENTROPY_INTERVAL: '1s',
  KVRING_LEGACY_TIMEOUT: '1s',
  KVRING_LOG_LEVEL: 'info',
  KVRING_MAX_MEMORY: '1Mi',
};

export class FaultEnv {
  private pool: pg.Pool | undefined;

  constructor(
    readonly net: NetTopology,
    readonly pg: TestPostgres,
    readonly legacy: LegacyProcess,
    readonly nodes: readonly FaultNode[],
    private readonly pidRegistry: string,
    private readonly dirRegistry: string,
    /** The Service's DNS, when the nodes discover each other through it. */
    readonly dns: FaultDns | undefined,
  ) {}

  async sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.pool === undefined) {
      this.pool = new pg.Pool({ connectionString: this.pg.url, max: 2, connectionTimeoutMillis: 5_000 });
      this.pool.on('error', () => undefined); // PostgreSQL is killed on purpose
    }
    return (await this.pool.query<T>(text, params)).rows;
  }

  running(): FaultNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** SIGKILLs PostgreSQL (postmaster and backends, as an OOM kill would). */
  async killPostgres(): Promise<void> {
    const pid = postmasterPid(this.pg);
    const children = childPids(pid);
    for (const p of [pid, ...children]) signal(p, 'SIGKILL');
    await waitGone([pid, ...children], 10_000);
  }

  /** Stops PostgreSQL cleanly (a fast shutdown: its data directory is consistent after). */
  async stopPostgres(): Promise<void> {
    await this.pg.stop();
  }

  /** Starts PostgreSQL again on the same address and data (crash recovery runs). */
  async restartPostgres(): Promise<void> {
    let last: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.pg.start();
        registerPid(this.pidRegistry, postmasterPid(this.pg), 'postgres');
        return;
      } catch (err) {
        last = err; // e.g. the old shared memory still attached for a moment
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    throw new Error(`PostgreSQL did not restart: ${(last as Error).message}`);
  }

  async stop(): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    await step('nodes', () => Promise.all(this.nodes.map((n) => n.stop(5_000))));
    for (const n of this.nodes) n.closeLog();
    await step('dns', async () => this.dns?.stop());
    await step('pool', async () => this.pool?.end());
    await step('legacy', () => this.legacy.stop());
    await step('postgres', () => this.pg.destroy());
    await step('netns', () => this.net.destroy());
    rmSync(this.pidRegistry, { force: true });
    rmSync(hbaPath(this.net.subnet), { force: true });
    rmSync(this.dirRegistry, { force: true });
    if (errors.length > 0) throw new Error(`fault env cleanup: ${errors.join('; ')}`);
  }
}

export async function startFaultEnv(opts: FaultEnvOptions): Promise<FaultEnv> {
  const count = opts.nodes ?? 3;
  const total = count + (opts.standby ?? 0);
  mkdirSync(opts.logDir, { recursive: true });
  mkdirSync(opts.registryDir, { recursive: true });
  const net = await NetTopology.create({ nodes: total, registryDir: opts.registryDir });
  const pidRegistry = join(opts.registryDir, `${process.pid}-${net.id}.pids`);
  // Temporary files to delete if this run dies before stop() (scripts/faults.sh).
  const dirRegistry = join(opts.registryDir, `${process.pid}-${net.id}.dirs`);
  writeFileSync(dirRegistry, `${hbaPath(net.subnet)}\n`);
  let db: TestPostgres | undefined;
  let legacy: LegacyProcess | undefined;
  let dns: FaultDns | undefined;
  const nodes: FaultNode[] = [];
  try {
    db = await startPostgres({
      host: net.postgresAddress,
      settings: { hba_file: writeHbaFile(net.subnet) },
    });
    registerPid(pidRegistry, postmasterPid(db), 'postgres');
    appendFileSync(dirRegistry, `${dirname(db.dataDir)}\n`);
    legacy = await startLegacyProcess({ host: net.hostAddress, keys: 1000 });
    registerPid(pidRegistry, legacy.child.pid, 'demo-legacy/main.js');
    const member = (i: number): string => `kv-${i}=${net.nodeAddress(i)}:50052`;
    let membership: Record<string, string> = {
      KVRING_PEERS: Array.from({ length: count }, (_, i) => member(i)).join(','),
    };
    if (opts.dns) {
      dns = await FaultDns.start(net.hostAddress, opts.dns.service);
      membership = dns.nodeEnv(opts.dns.intervalMs);
    }
    for (let i = 0; i < total; i++) {
      const faketime = opts.faketime?.[i];
      const node = new FaultNode({
        name: `kv-${i}`,
        host: net.nodeAddress(i),
        netns: net.nsPath(i),
        logFile: join(opts.logDir, `kv-${i}.log`),
        pidRegistry,
        ...(faketime !== undefined ? { faketime } : {}),
        env: {
          KVRING_NODE_NAME: `kv-${i}`,
          KVRING_HOST: net.nodeAddress(i),
          ...membership,
          KVRING_POSTGRES_URL: db.url,
          KVRING_LEGACY_URL: legacy.url,
          ...FAULT_NODE_ENV,
          ...opts.nodeEnv,
          ...withSelf(opts.perNodeEnv?.[i], member(i)),
        },
      });
      node.standby = i >= count;
      if (!node.standby) dns?.add(node.pod);
      nodes.push(node);
    }
    const first = nodes.filter((n) => !n.standby);
    const offset = (i: number): number => (i * (opts.startSpreadMs ?? 0)) / first.length;
    await Promise.all(
      first.map(async (n, i) => {
        await new Promise((r) => setTimeout(r, offset(i)));
        await n.startReady();
      }),
    );
    await waitMembersUp(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill().catch(() => undefined)));
    for (const n of nodes) n.closeLog();
    await dns?.stop().catch(() => undefined);
    await legacy?.stop().catch(() => undefined);
    await db?.destroy().catch(() => undefined);
    await net.destroy().catch(() => undefined);
    rmSync(pidRegistry, { force: true });
    rmSync(hbaPath(net.subnet), { force: true });
    rmSync(dirRegistry, { force: true });
    throw err;
  }
  return new FaultEnv(net, db, legacy, nodes, pidRegistry, dirRegistry, dns);
}

/** A node's own settings, SELF in a value standing for its "name=host:port" (e.g. KVRING_PEERS: SELF). */
export const SELF = '{self}';

function withSelf(env: Record<string, string> | undefined, self: string): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, v.replaceAll(SELF, self)]));
}

/**
 * initdb's pg_hba.conf admits 127.0.0.1 only; the nodes (and the launcher)
 * connect from the suite's subnet. Written where the postgres user can read it.
 */
function hbaPath(subnet: string): string {
  return join(tmpdir(), `kvring-faults-hba-${subnet}.conf`);
}

function writeHbaFile(subnet: string): string {
  const file = hbaPath(subnet);
  writeFileSync(
    file,
    `host all all ${subnet}.0/24 scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n`,
    {
      mode: 0o644,
    },
  );
  return file;
}

function postmasterPid(db: TestPostgres): number {
  const pidFile = join(db.dataDir, 'postmaster.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${pidFile}`);
  return pid;
}

/** Lists a process for scripts/faults.sh to kill if this run dies before stopping it. */
function registerPid(file: string, pid: number | undefined, marker: string): void {
  if (pid !== undefined) appendFileSync(file, `${pid} ${marker}\n`);
}

function childPids(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (pids.some(alive)) {
    if (performance.now() > deadline)
      throw new Error(`processes ${pids.filter(alive).join(', ')} still alive`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
