// Where each call goes, in order of preference. With the ring known (from
// ClusterInfo), a key's replicas come first: the ones seen up and not
// marked down, rotated so reads spread over them, then every other node,
// then whatever is down as a last resort. Without the ring, every known
// address in rotation. The ring is checked on a timer and soon after a node
// fails; the addresses are re-resolved likewise (endpoints.ts).
import type { ClusterInfoResponse } from './gen/kvring/v1/kvring.js';
import type { Endpoints } from './endpoints.js';
import type { ChannelPool } from './pool.js';
import { hostOf } from './targets.js';
import { Topology } from './topology.js';

export interface RouterOptions {
  readonly ringAware: boolean;
  readonly now: () => number;
  /** Period of the ring check and of the re-resolution of DNS names. */
  readonly ringCheckMs: number;
  readonly resolveMs: number;
  /** Least time between two failure-triggered ring checks. */
  readonly minCheckMs: number;
  /** Asks the node at `address` for its view (one attempt, no failover). */
  readonly fetchInfo: (address: string) => Promise<ClusterInfoResponse>;
}

export class Router {
  private topology: Topology | undefined;
  private cursor = 0;
  private infoCursor = 0;
  private lastInfo: ClusterInfoResponse | undefined;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private checking: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private started = false;
  private closed = false;

  constructor(
    private readonly endpoints: Endpoints,
    private readonly pool: ChannelPool,
    private readonly opts: RouterOptions,
  ) {}

  /** The ring-hash of the view calls follow, or undefined while the ring is unknown. */
  get ringHash(): string | undefined {
    return this.topology?.ringHash;
  }

  /** Before the first routed call: resolve names, start the timers and the first ring check. */
  async ready(): Promise<void> {
    await this.endpoints.ready();
    if (this.started || this.closed) return;
    this.started = true;
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    if (this.endpoints.hasNames) every(this.opts.resolveMs, () => this.endpoints.refreshSoon());
    if (this.opts.ringAware) {
      every(this.opts.ringCheckMs, () => this.checkSoon());
      this.checkSoon();
    }
  }

  /** Addresses to try for a call on `key` (undefined: a call with no key), best first. */
  plan(key: string | undefined): string[] {
    return this.order(key, this.cursor++ & 0x7fffffff);
  }

  private order(key: string | undefined, turn: number): string[] {
    const first: string[] = [];
    const last: string[] = [];
    const seen = new Set<string>();
    const place = (address: string, up: boolean): void => {
      if (seen.has(address)) return;
      seen.add(address);
      (up && !this.pool.isDown(address) ? first : last).push(address);
    };
    const topo = this.opts.ringAware ? this.topology : undefined;
    if (topo !== undefined && key !== undefined)
      for (const r of rotate(topo.replicas(key), turn)) if (r.address !== undefined) place(r.address, r.up);
    const others = [...this.endpoints.list(), ...(topo?.addresses() ?? [])];
    for (const address of rotate(others, turn)) place(address, true);
    return [...first, ...last];
  }

  /** A call on `address` succeeded. */
  succeeded(address: string): void {
    this.pool.markUp(address);
  }

  /**
   * The node at `address` could not take a call (no connection, the
   * connection broke, shutting down): avoid it for a while, dial it afresh
   * next time, and look again at DNS and the ring, which may have moved.
   */
  nodeFailed(address: string): void {
    this.pool.markDown(address);
    this.pool.retire(address);
    this.viewMayHaveMoved();
  }

  /** An answer suggests the membership changed (a refused quorum, a node leaving). */
  viewMayHaveMoved(): void {
    this.endpoints.refreshSoon();
    if (this.opts.ringAware && this.opts.now() - this.lastCheck >= this.opts.minCheckMs) this.checkSoon();
  }

  /** Reads ClusterInfo from one node after another until one answers; concurrent callers share it. */
  checkRing(): Promise<void> {
    this.lastCheck = this.opts.now();
    this.checking ??= this.fetchView().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Re-resolves the names and re-reads the ring now. */
  async refresh(): Promise<void> {
    await this.endpoints.refresh();
    if (this.opts.ringAware) await this.checkRing();
  }

  /** Channels whose address left both DNS and the ring are dropped. */
  prune(): void {
    this.pool.retainOnly(new Set([...this.endpoints.list(), ...(this.topology?.addresses() ?? [])]));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private checkSoon(): void {
    // A failed check keeps the last view; the next timer tick or failure tries again.
    this.checkRing().catch(() => undefined);
  }

  private async fetchView(): Promise<void> {
    // Its own rotation, so checks do not shift which node the next call takes.
    const candidates = this.order(undefined, this.infoCursor++ & 0x7fffffff);
    let lastErr: unknown = new Error('no node to ask for ClusterInfo');
    for (const address of candidates) {
      if (this.closed) return;
      try {
        this.apply(await this.opts.fetchInfo(address));
        return;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** DNS answered differently: members may now map to other addresses. */
  endpointsChanged(): void {
    if (this.lastInfo !== undefined) this.apply(this.lastInfo);
    else this.prune();
  }

  private apply(info: ClusterInfoResponse): void {
    if (this.closed) return;
    this.lastInfo = info;
    this.topology = Topology.from(info, this.topology, (a) => this.addressOf(a));
    this.prune();
  }

  /**
   * A member's advertised client address, as this client dials it: the
   * address itself when it was given; when the client was given DNS names,
   * only an address those names resolve to (inside Kubernetes the member's
   * address is its pod IP, which the headless Service lists; outside, the
   * advertised address may not be reachable at all, and waiting on it would
   * stall calls); otherwise the advertised address.
   */
  private addressOf(clientAddress: string): string | undefined {
    if (this.endpoints.list().includes(clientAddress)) return clientAddress;
    if (!this.endpoints.hasNames) return clientAddress;
    return this.endpoints.fromName(hostOf(clientAddress));
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
