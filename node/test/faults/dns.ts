// The headless Service's DNS for a scenario whose nodes find each other as
// in Kubernetes (KVRING_DISCOVERY_SERVICE, KVRING_DNS_SERVER): the test DNS
// server's table and codec (test/support/dns-server.ts), answered on the
// host side of the suite's network (198.18.X.254), which the nodes'
// namespaces reach and 127.0.0.1 is not. Each SRV answer is counted per
// asking node, so a scenario can await "every node was told the new list"
// instead of sleeping for discovery intervals.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decodeQuery, TestDnsServer, TYPE_SRV } from '../support/dns-server.js';

/** The peer port's SRV name is _peer._tcp.SERVICE (KVRING_DISCOVERY_PORT_NAME's default). */
const PORT_NAME = 'peer';

export interface Pod {
  /** Member name: the first label of its SRV target. */
  readonly name: string;
  readonly host: string;
  readonly peerPort: number;
}

interface Waiter {
  readonly want: Map<string, number>;
  readonly resolve: () => void;
}

export class FaultDns {
  /** SRV answers sent, by the asking node's address. */
  private readonly srvAnswers = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly published = new Map<string, Pod>();
  /** A removal due right after the next SRV answer to `host`. */
  private pendingRemoval: { name: string; host: string; done: () => void } | undefined;

  private constructor(
    private readonly table: TestDnsServer,
    private readonly socket: Socket,
    readonly service: string,
    /** host:port, for KVRING_DNS_SERVER. */
    readonly address: string,
  ) {}

  /** Serves DNS on `host` (an address of this namespace) at a free UDP port. */
  static async start(host: string, service: string): Promise<FaultDns> {
    // The table's own socket on 127.0.0.1 is not used: the nodes ask `host`.
    const table = await TestDnsServer.start();
    const socket = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await table.stop();
      throw err;
    }
    const dns = new FaultDns(table, socket, service, `${host}:${socket.address().port}`);
    socket.on('message', (msg, from) => dns.onMessage(msg, from));
    socket.on('error', () => undefined); // a node that went away
    return dns;
  }

  get srvName(): string {
    return `_${PORT_NAME}._tcp.${this.service}`;
  }

  /** Settings that make a node discover its peers here (instead of KVRING_PEERS). */
  nodeEnv(intervalMs: number): Record<string, string> {
    return {
      KVRING_PEERS: '',
      KVRING_DISCOVERY_SERVICE: this.service,
      KVRING_DISCOVERY_PORT_NAME: PORT_NAME,
      KVRING_DNS_SERVER: this.address,
      KVRING_DISCOVERY_INTERVAL: `${intervalMs}ms`,
    };
  }

  /** Lists a pod: its SRV target and the A record it resolves to. */
  add(pod: Pod): void {
    this.published.set(pod.name, pod);
    this.table.setA(this.fqdn(pod.name), [pod.host]);
    this.writeSrv();
  }

  /** Drops a pod's records, as for a deleted pod (no record until a replacement has an IP). */
  remove(name: string): void {
    this.published.delete(name);
    this.table.remove(this.fqdn(name));
    this.writeSrv();
  }

  /**
   * Drops a pod's records right after `host` is sent its next SRV answer,
   * so that its A lookups for the targets of that answer find none: the
   * worst moment for a deletion to land, as it may in any DNS server
   * between a client's SRV and A queries. After `timeoutMs` without such a
   * query the records are dropped anyway; resolves to whether the timing was met.
   */
  async removeBetweenLookups(name: string, host: string, timeoutMs: number): Promise<boolean> {
    if (this.pendingRemoval) throw new Error('one pending removal at a time');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<boolean>((resolve) => {
        this.pendingRemoval = { name, host, done: () => resolve(true) };
        timer = setTimeout(() => {
          this.pendingRemoval = undefined;
          this.remove(name);
          resolve(false);
        }, timeoutMs);
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The pods DNS lists now. */
  listed(): string[] {
    return [...this.published.keys()].sort();
  }

  /**
   * Resolves once each of `hosts` has been sent `count` more SRV answers
   * than it had when called (so its discovery read the table as it is now:
   * with count >= 2, a refresh that started after the change has also been
   * applied, since one node's refreshes do not overlap). Rejects after
   * `timeoutMs`, naming the nodes that did not ask.
   */
  async served(hosts: readonly string[], count: number, timeoutMs: number): Promise<void> {
    const want = new Map(hosts.map((h) => [h, (this.srvAnswers.get(h) ?? 0) + count]));
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          waiter = { want, resolve };
          this.waiters.add(waiter);
          this.wake();
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const late = [...want].filter(([h, n]) => (this.srvAnswers.get(h) ?? 0) < n).map(([h]) => h);
            reject(
              new Error(`DNS: no ${count} SRV answer(s) asked by ${late.join(', ')} within ${timeoutMs} ms`),
            );
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (waiter) this.waiters.delete(waiter);
    }
  }

  async stop(): Promise<void> {
    this.pendingRemoval?.done();
    this.pendingRemoval = undefined;
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    await this.table.stop();
  }

  private fqdn(name: string): string {
    return `${name}.${this.service}`;
  }

  private writeSrv(): void {
    this.table.setSrv(
      this.srvName,
      [...this.published.values()].map((p) => ({ target: this.fqdn(p.name), port: p.peerPort })),
    );
  }

  private onMessage(msg: Buffer, from: RemoteInfo): void {
    const out = this.table.answer(msg);
    if (out === undefined) return;
    this.socket.send(out, from.port, from.address);
    if (isSrvQuery(msg, this.srvName)) {
      const due = this.pendingRemoval;
      if (due !== undefined && due.host === from.address) {
        this.pendingRemoval = undefined;
        this.remove(due.name);
        due.done();
      }
      this.srvAnswers.set(from.address, (this.srvAnswers.get(from.address) ?? 0) + 1);
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters)
      if ([...w.want].every(([h, n]) => (this.srvAnswers.get(h) ?? 0) >= n)) {
        this.waiters.delete(w);
        w.resolve();
      }
  }
}

function isSrvQuery(msg: Buffer, srvName: string): boolean {
  try {
    const q = decodeQuery(msg);
    return q.type === TYPE_SRV && q.name.toLowerCase().replace(/\.$/, '') === srvName.toLowerCase();
  } catch {
    return false;
  }
}
