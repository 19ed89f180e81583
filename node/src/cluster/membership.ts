// Keeps the member list, the ring and one handle per member current. The
// ring is rebuilt only when the set of member names changes (a scale event);
// an address change (a pod restarted with a new IP) only reconnects. A
// member missing from discovery stays a member for a hold-down period (a
// deleted pod has no DNS record until its replacement has an IP: that is a
// transient failure, not a scale event); a member that announces it is
// draining (ring-view.ts) leaves the ring at once. A member that dials this
// node announces where it is now (Hello.address, its pod IP): that address
// is preferred to discovery's, whose DNS caches keep a restarted pod's old
// IP for up to their TTL, and only a newer incarnation's announcement
// replaces it; discovery's answer counts again only once the announced
// address has been unreachable for the hold-down.
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { Ring } from '@kvring/client/ring';
import type { Discovery, MemberMap } from './discovery.js';
import { compareIncarnations } from './incarnation.js';
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
  /** How long a member missing from discovery stays a member. */
  readonly holdDownMs: number;
  /** Whether this node drains: it then places no key on itself. */
  readonly selfLeaving: () => boolean;
  readonly now?: () => number;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

/** Where a member said it is, which of its incarnations said so, and when it was last reached there. */
interface Announcement {
  readonly address: string;
  readonly incarnation: string;
  confirmedAt: number;
}

export class Membership {
  readonly placement: RingPlacement;
  private readonly peers = new Map<string, PeerConnection>();
  private addresses: MemberMap = new Map();
  private readonly announced = new Map<string, Announcement>();
  /** Members to connect to afresh at the next apply, even at the same address. */
  private readonly redial = new Set<string>();
  /** When discovery last listed each member. */
  private readonly lastListed = new Map<string, number>();
  private lastFound: MemberMap = new Map();
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;

  private constructor(private readonly opts: MembershipOptions) {
    const handles = new Map<string, ReplicaHandle>([[opts.self.name, opts.self]]);
    this.placement = new RingPlacement(
      new Ring([opts.self.name], { vnodes: opts.vnodes }),
      handles,
      opts.replicationFactor,
    );
    this.placement.refresher = () => this.refresh(false);
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

  /** Reads discovery and applies it; concurrent callers share one read. */
  refresh(initial: boolean): Promise<void> {
    this.inflight ??= this.opts.discovery
      .members()
      .then((found) => this.apply(found, initial))
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /**
   * A member dialled this node and said where it is now (its Hello). A
   * member this node knows is reconnected there at once, unless an
   * announcement from a newer incarnation of it came first; an unknown name
   * is left to discovery (a Hello alone makes no member).
   */
  announce(name: string, incarnation: string, address: string): void {
    if (!address || name === this.opts.self.name) return;
    const cur = this.announced.get(name);
    if (cur !== undefined && compareIncarnations(incarnation, cur.incarnation) < 0) return;
    const now = (this.opts.now ?? Date.now)();
    this.announced.set(name, { address, incarnation, confirmedAt: now });
    const known = this.addresses.get(name);
    if (known === undefined) return;
    if (known === address) {
      // Back at the same address (a restart on the same IP): a stream waiting
      // out its reconnect backoff (up to 2 s) is replaced by a fresh one now.
      // One already connecting is left alone: both sides dial each other at
      // a restart, and replacing it would answer each Hello with another.
      if (this.peers.get(name)?.backingOff !== true) return;
      this.redial.add(name);
    }
    if (known !== address)
      this.opts.log.info({ peer: name, address, was: known, incarnation }, 'peer announced a new address');
    this.apply(this.lastFound, false);
  }

  /** Applies the last list again: a peer told that it drains, or stopped draining. */
  reapply(): void {
    this.apply(this.lastFound, false);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.peers.values()) c.close();
    this.peers.clear();
  }

  private apply(found: MemberMap, initial: boolean): void {
    const { self, log } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    this.lastFound = found;
    for (const name of found.keys()) this.lastListed.set(name, now);
    const next = new Map(found);
    // A member missing from discovery keeps its place (and last address)
    // until the hold-down runs out.
    for (const [name, addr] of this.addresses)
      if (!next.has(name) && now - (this.lastListed.get(name) ?? 0) < this.opts.holdDownMs)
        next.set(name, addr);
    this.preferAnnounced(next, now);
    // DNS may lag behind this pod's own start; a node always counts itself.
    next.set(self.name, this.opts.selfPeerAddress);
    for (const name of this.lastListed.keys()) if (!next.has(name)) this.lastListed.delete(name);
    let reconnected = 0;
    for (const [name, addr] of next) {
      if (name === self.name) continue;
      const cur = this.peers.get(name);
      if (cur !== undefined && cur.address === addr && !this.redial.has(name)) continue;
      cur?.close();
      const conn = this.opts.connect(name, addr);
      // What the member announced belongs to the member, not the connection:
      // a drained member that discovery lists again at another address (its
      // SRV record outlived its A record) stays out of the ring until it
      // says otherwise in a Hello of its own (a new pod of that name).
      if (cur?.leaving === true) conn.leaving = true;
      this.peers.set(name, conn);
      reconnected++;
    }
    for (const [name, conn] of this.peers)
      if (!next.has(name)) {
        conn.close();
        this.peers.delete(name);
        // A member that left the ring earlier (drained) leaves the handles
        // now: the ring's names do not change, but the placement's handle
        // list (what ClusterInfo reports) must.
        reconnected++;
      }
    this.redial.clear();
    this.addresses = next;
    // A draining member is still connected (its handoff state matters) but
    // owns nothing.
    let names = [...next.keys()].filter((n) =>
      n === self.name ? !this.opts.selfLeaving() : this.peers.get(n)?.leaving !== true,
    );
    const old = this.placement.ring;
    if (names.length === 0) names = [...old.members];
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

  /**
   * Members' announced addresses over discovery's: an announcement holds
   * while the member is reachable there, and for the hold-down after it was
   * last reached (long enough for DNS caches to learn the new address), so a
   * stale DNS answer cannot move a member back to the IP of a pod that is
   * gone. A member that left the list forgets its announcement.
   */
  private preferAnnounced(next: Map<string, string>, now: number): void {
    for (const [name, a] of this.announced) {
      const listed = next.get(name);
      const conn = this.peers.get(name);
      if (conn !== undefined && conn.up && conn.address === a.address) a.confirmedAt = now;
      if (listed === undefined || (listed !== a.address && now - a.confirmedAt > this.opts.holdDownMs)) {
        this.announced.delete(name);
        continue;
      }
      next.set(name, a.address);
    }
  }

  /** The connected peers, for the settle check (every one must report the view). */
  connections(): readonly PeerConnection[] {
    return [...this.peers.values()];
  }
}
