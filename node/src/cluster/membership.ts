// Keeps the member list, the ring and one handle per member current. The
// ring is rebuilt only when the set of member names changes (a scale event);
// an address change (a pod restarted with a new IP) only reconnects.
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { Ring } from '@kvring/client/ring';
import type { Discovery, MemberMap } from './discovery.js';
import type { LocalHandle } from './local-handle.js';
import { RingPlacement } from './placement.js';
import type { ReplicaHandle } from './replica.js';
import type { PeerConnection } from '../peer/connection.js';

export interface MembershipOptions {
  readonly discovery: Discovery;
  readonly self: LocalHandle;
  readonly selfPeerAddress: string;
  readonly vnodes: number;
  readonly replicationFactor: number;
  readonly connect: (name: string, address: string) => PeerConnection;
  readonly onRingChange: (ring: Ring, previous: Ring) => void;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

export class Membership {
  readonly placement: RingPlacement;
  private readonly peers = new Map<string, PeerConnection>();
  private addresses: MemberMap = new Map();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;

  private constructor(private readonly opts: MembershipOptions) {
    const handles = new Map<string, ReplicaHandle>([[opts.self.name, opts.self]]);
    this.placement = new RingPlacement(
      new Ring([opts.self.name], { vnodes: opts.vnodes }),
      handles,
      opts.replicationFactor,
    );
  }

  /** Waits for the first member list (retrying), then builds the ring. */
  static async start(opts: MembershipOptions, intervalMs: number): Promise<Membership> {
    const m = new Membership(opts);
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      try {
        await m.refresh(true);
        break;
      } catch (err) {
        if (attempt % 10 === 1)
          opts.log.warn(
            { err: (err as Error).message, source: opts.discovery.description },
            'waiting for members',
          );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(2000, delay * 2);
      }
    }
    m.timer = setInterval(() => {
      m.refresh(false).catch((err: Error) =>
        opts.log.warn({ err: err.message }, 'membership refresh failed; keeping the last list'),
      );
    }, intervalMs);
    m.timer.unref();
    return m;
  }

  get ring(): Ring {
    return this.placement.ring;
  }

  addressOf(name: string): string | undefined {
    return name === this.opts.self.name ? this.opts.selfPeerAddress : this.addresses.get(name);
  }

  handles(): readonly ReplicaHandle[] {
    return this.placement.all();
  }

  async refresh(initial: boolean): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const found = await this.opts.discovery.members();
      this.apply(found, initial);
    } finally {
      this.refreshing = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.peers.values()) c.close();
    this.peers.clear();
  }

  private apply(found: MemberMap, initial: boolean): void {
    const { self, log } = this.opts;
    const next = new Map(found);
    // DNS may lag behind this pod's own start; a node always counts itself.
    next.set(self.name, this.opts.selfPeerAddress);
    let reconnected = 0;
    for (const [name, addr] of next) {
      if (name === self.name) continue;
      const cur = this.peers.get(name);
      if (cur !== undefined && cur.address === addr) continue;
      cur?.close();
      this.peers.set(name, this.opts.connect(name, addr));
      reconnected++;
    }
    for (const [name, conn] of this.peers)
      if (!next.has(name)) {
        conn.close();
        this.peers.delete(name);
      }
    this.addresses = next;
    const names = [...next.keys()];
    const old = this.placement.ring;
    const sameNames = names.length === old.members.length && names.every((n) => old.has(n));
    const handles = new Map<string, ReplicaHandle>([[self.name, self], ...this.peers]);
    if (sameNames && !initial) {
      if (reconnected > 0) this.placement.update(old, handles);
      return;
    }
    const ring = old.withMembers(names);
    this.placement.update(ring, handles);
    this.opts.metrics.members.set({ state: 'total' }, names.length);
    if (!initial) {
      this.opts.metrics.ringChanges.inc();
      log.info({ members: ring.members, ring: ring.ringHash }, 'ring changed');
      this.opts.onRingChange(ring, old);
    } else log.info({ members: ring.members, ring: ring.ringHash }, 'ring built');
  }
}
