// The suite's own network: one network namespace per node, joined by a
// bridge in a "hub" namespace, plus one veth into the host namespace where
// the test process, PostgreSQL and the demo legacy API live:
//
//   kvfID-n0 (eth0 198.18.X.1) ─┐
//   kvfID-n1 (eth0 198.18.X.2) ─┼─ br0 in kvfID-hub ── kvfID-h (host: .254 legacy/clients, .253 PostgreSQL)
//   kvfID-n2 (eth0 198.18.X.3) ─┘
//
// 198.18.0.0/15 is the range RFC 2544 sets aside for network tests; nothing
// is routed off the machine. Daemons start inside a namespace with
// `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which remounts /sys).
//
// A partition is made of permanent neighbour (ARP) entries pointing at a
// MAC address nobody has: frames are sent and silently lost, in both
// directions, and established TCP connections stall exactly as on a broken
// link (a blackhole route instead fails connect() at once, and this kernel
// has neither netem nor tc drop actions). Healing deletes the entries and
// ARP resolves again; stalled connections resume.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NOWHERE_MAC = '02:00:00:00:de:ad';

export async function ip(args: readonly string[]): Promise<string> {
  try {
    return (await run('ip', [...args], { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

export interface TopologyOptions {
  readonly nodes: number;
  /** Directory where the namespaces are listed while they exist (cleanup after a crash). */
  readonly registryDir: string;
}

export class NetTopology {
  private readonly partitions = new Set<string>();
  private destroyed = false;

  private constructor(
    readonly id: string,
    /** First three octets, e.g. "198.18.42". */
    readonly subnet: string,
    readonly nodes: number,
    private readonly registryFile: string,
  ) {}

  static async create(opts: TopologyOptions): Promise<NetTopology> {
    const taken = await ip(['-4', '-o', 'addr', 'show']);
    const names = await ip(['netns', 'list']);
    let id = '';
    let subnet = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      const x = Math.floor(Math.random() * 510);
      const candidate = `198.${18 + (x >> 8)}.${x & 255}`;
      const cid = Math.floor(Math.random() * 0xffff)
        .toString(16)
        .padStart(4, '0');
      if (taken.includes(` ${candidate}.`) || names.includes(`kvf${cid}-`)) continue;
      id = cid;
      subnet = candidate;
      break;
    }
    if (!id) throw new Error('no free 198.18.0.0/15 subnet or namespace id found');
    mkdirSync(opts.registryDir, { recursive: true });
    const t = new NetTopology(id, subnet, opts.nodes, join(opts.registryDir, `${process.pid}-${id}.netns`));
    // Listed before anything exists, so a crash at any step leaves a record.
    writeFileSync(t.registryFile, `${[t.hubNs, ...t.nodeNamespaces()].join('\n')}\n${t.hostLink}\n`);
    try {
      await t.build();
    } catch (err) {
      await t.destroy();
      throw err;
    }
    return t;
  }

  get hubNs(): string {
    return `kvf${this.id}-hub`;
  }

  get hostLink(): string {
    return `kvf${this.id}-h`;
  }

  nodeNs(i: number): string {
    return `kvf${this.id}-n${i}`;
  }

  nodeNamespaces(): string[] {
    return Array.from({ length: this.nodes }, (_, i) => this.nodeNs(i));
  }

  nsPath(i: number): string {
    return `/run/netns/${this.nodeNs(i)}`;
  }

  nodeAddress(i: number): string {
    return `${this.subnet}.${i + 1}`;
  }

  /** Host side: the test's clients and the demo legacy API. */
  get hostAddress(): string {
    return `${this.subnet}.254`;
  }

  /** Host side, a second address for PostgreSQL alone, so it can be cut off by itself. */
  get postgresAddress(): string {
    return `${this.subnet}.253`;
  }

  private async build(): Promise<void> {
    const hub = this.hubNs;
    await ip(['netns', 'add', hub]);
    await ip(['-n', hub, 'link', 'set', 'lo', 'up']);
    await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < this.nodes; i++) {
      const ns = this.nodeNs(i);
      await ip(['netns', 'add', ns]);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', hub]);
      await ip(['-n', hub, 'link', 'set', `n${i}`, 'master', 'br0', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${this.nodeAddress(i)}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    await ip(['link', 'add', this.hostLink, 'type', 'veth', 'peer', 'name', 'host', 'netns', hub]);
    await ip(['-n', hub, 'link', 'set', 'host', 'master', 'br0', 'up']);
    await ip(['addr', 'add', `${this.hostAddress}/24`, 'dev', this.hostLink]);
    await ip(['addr', 'add', `${this.postgresAddress}/24`, 'dev', this.hostLink]);
    await ip(['link', 'set', this.hostLink, 'up']);
  }

  /** Cuts node i off from every other node (both directions); clients and PostgreSQL still reach it. */
  async isolateFromPeers(i: number): Promise<void> {
    for (let j = 0; j < this.nodes; j++) {
      if (j === i) continue;
      await this.blackhole(i, this.nodeAddress(j));
      await this.blackhole(j, this.nodeAddress(i));
    }
  }

  /** Cuts node i off from PostgreSQL (its established connections stall). */
  async isolateFromPostgres(i: number): Promise<void> {
    await this.blackhole(i, this.postgresAddress);
  }

  /** Removes every partition. */
  async healAll(): Promise<void> {
    for (const p of [...this.partitions]) {
      const [i, addr] = p.split(' ') as [string, string];
      await ip(['-n', this.nodeNs(Number(i)), 'neigh', 'del', addr, 'dev', 'eth0']).catch(() => undefined);
      this.partitions.delete(p);
    }
  }

  private async blackhole(i: number, addr: string): Promise<void> {
    await ip([
      '-n',
      this.nodeNs(i),
      'neigh',
      'replace',
      addr,
      'lladdr',
      NOWHERE_MAC,
      'dev',
      'eth0',
      'nud',
      'permanent',
    ]);
    this.partitions.add(`${i} ${addr}`);
  }

  /** Deletes the namespaces (and with them every veth and the bridge). Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const errors: string[] = [];
    for (const ns of [...this.nodeNamespaces(), this.hubNs])
      await ip(['netns', 'del', ns]).catch((e: Error) => {
        if (!/No such file/.test(e.message)) errors.push(e.message);
      });
    await ip(['link', 'del', this.hostLink]).catch(() => undefined); // usually gone with the hub
    rmSync(this.registryFile, { force: true });
    if (errors.length > 0) throw new Error(`netns cleanup: ${errors.join('; ')}`);
  }
}
