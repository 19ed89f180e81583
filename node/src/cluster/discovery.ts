// Where the member list comes from: a static list outside Kubernetes, or the
// headless Service's DNS inside it. With publishNotReadyAddresses a crashed
// pod keeps its records, but a deleted pod has none until its replacement
// has an IP: membership.ts holds a missing member for a hold-down period, so
// such a gap never changes the ring.
import { Resolver } from 'node:dns/promises';

/** Ordinals the A-record probe asks at once; a window without any pod ends it. */
const PROBE_WINDOW = 8;

/** Member name -> host:peerPort. */
export type MemberMap = ReadonlyMap<string, string>;

export interface Discovery {
  /** The current members; throws when the source cannot be read (the caller keeps the last good list). */
  members(): Promise<MemberMap>;
  readonly description: string;
}

export class StaticDiscovery implements Discovery {
  readonly description: string;
  constructor(private readonly peers: MemberMap) {
    this.description = `static list of ${peers.size} members (KVRING_PEERS)`;
  }
  members(): Promise<MemberMap> {
    return Promise.resolve(this.peers);
  }
}

export interface DnsDiscoveryOptions {
  /** Headless Service FQDN, e.g. demo-peers.default.svc.cluster.local. */
  readonly service: string;
  /** SRV port name: records are looked up at _NAME._tcp.SERVICE. */
  readonly portName: string;
  /** StatefulSet name for the A-record fallback (PREFIX-0.SERVICE, ...). */
  readonly podPrefix: string;
  readonly peerPort: number;
  /** host:port of the DNS server; empty = system resolver. */
  readonly server: string;
  /** Upper bound of the A-record probe. */
  readonly maxOrdinal?: number;
}

export class DnsDiscovery implements Discovery {
  readonly description: string;
  private readonly resolver = new Resolver({ timeout: 2000, tries: 2 });

  constructor(private readonly opts: DnsDiscoveryOptions) {
    if (opts.server) this.resolver.setServers([opts.server]);
    this.description = `DNS of ${opts.service} (SRV _${opts.portName}._tcp, then A records of ${opts.podPrefix || '<none>'}-N)`;
  }

  async members(): Promise<MemberMap> {
    try {
      const srv = await this.resolver.resolveSrv(`_${this.opts.portName}._tcp.${this.opts.service}`);
      if (srv.length > 0) {
        // Addresses are resolved with the same resolver (the configured
        // server), so the peer streams connect where DNS says the pod is;
        // a pod that comes back with a new IP gets a new address and a
        // reconnect, but keeps its name and so its place on the ring.
        const addrs = await Promise.all(srv.map((r) => this.addressOf(r.name, r.port)));
        const out = new Map<string, string>();
        srv.forEach((r, i) => out.set(memberName(r.name), addrs[i]!));
        return out;
      }
    } catch (err) {
      if (!this.opts.podPrefix) throw err;
    }
    return this.probeOrdinals();
  }

  private async addressOf(target: string, port: number): Promise<string> {
    try {
      const ips = await this.resolver.resolve4(target);
      if (ips.length > 0) return `${ips[0]}:${port}`;
    } catch {
      // No A record (yet): let gRPC resolve the name itself.
    }
    return `${target}:${port}`;
  }

  /**
   * Without SRV records: StatefulSet pods are PREFIX-0..PREFIX-(n-1). A pod
   * that was deleted has no record until its replacement has an IP, so a
   * missing ordinal does not end the probe: the pods after it are still
   * members. The probe asks PROBE_WINDOW ordinals at a time and ends after a
   * window where none exists (or at maxOrdinal).
   */
  private async probeOrdinals(): Promise<MemberMap> {
    if (!this.opts.podPrefix) throw new Error(`no SRV records for ${this.opts.service} and no pod prefix`);
    const out = new Map<string, string>();
    const max = this.opts.maxOrdinal ?? 256;
    for (let from = 0; from < max; from += PROBE_WINDOW) {
      const ordinals: number[] = [];
      for (let i = from; i < Math.min(max, from + PROBE_WINDOW); i++) ordinals.push(i);
      const found = await Promise.all(ordinals.map((i) => this.podAddress(i)));
      found.forEach((addr, j) => {
        if (addr !== undefined) out.set(`${this.opts.podPrefix}-${ordinals[j]!}`, addr);
      });
      if (found.every((a) => a === undefined)) break;
    }
    if (out.size === 0) throw new Error(`no A records for ${this.opts.podPrefix}-0.${this.opts.service}`);
    return out;
  }

  /** host:port of pod `i`, undefined when it has no record; throws when DNS fails. */
  private async podAddress(i: number): Promise<string | undefined> {
    const host = `${this.opts.podPrefix}-${i}.${this.opts.service}`;
    let ips: string[];
    try {
      ips = await this.resolver.resolve4(host);
    } catch (err) {
      // Only a pod that does not exist is skipped; a failing lookup fails
      // the refresh, so the caller keeps its last list.
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return undefined;
      throw err;
    }
    return ips.length > 0 ? `${ips[0]}:${this.opts.peerPort}` : `${host}:${this.opts.peerPort}`;
  }
}

/** `demo-0.demo-peers.ns.svc.cluster.local.` -> `demo-0`. */
export function memberName(target: string): string {
  return target.split('.')[0]!;
}
