// This node's ring view as a replica sees it: which keys it owns now, which
// of those it only just gained, and whether it is leaving. It fences ring
// transitions (docs/ARCHITECTURE.md, "Failures, membership change, shutdown"):
// - a write for a key this node does not own in its view is refused
//   (PEER_STATUS_NOT_OWNER), so an old-view coordinator cannot count a
//   replica whose copy the next view will never read, and every write this
//   node ever accepted for a key it gives up is in its store when its
//   handoff stream for that key starts;
// - a copy of a key this node gained in the last change is answered as a
//   miss (the coordinator then consults PostgreSQL) until the view settles:
//   every peer reports this view and that it handed its keys over;
// - a draining node owns nothing: it takes no write, so it stops counting
//   toward W before its final stream.
import type { Ring } from '@kvring/client/ring';

export interface ViewStatus {
  readonly view: string;
  readonly handedOff: boolean;
  readonly leaving: boolean;
}

export class RingView {
  private cur: Ring;
  /** The views since the view last settled (oldest first): a key is trusted only if each owned it. */
  private history: Ring[] = [];
  private leavingFlag = false;
  private handedOffFlag = true;
  /** Bumped on every change, so the peer server knows when to say Hello again. */
  generation = 0;

  constructor(
    private readonly self: string,
    private readonly n: number,
    ring: Ring,
  ) {
    this.cur = ring;
  }

  get ring(): Ring {
    return this.cur;
  }

  get leaving(): boolean {
    return this.leavingFlag;
  }

  /** Whether gained keys are still answered as misses. */
  get settling(): boolean {
    return this.history.length > 0;
  }

  status(): ViewStatus {
    return { view: this.cur.ringHash, handedOff: this.handedOffFlag, leaving: this.leavingFlag };
  }

  /** The first ring this node learned: it held nothing before, so nothing is untrusted. */
  reset(ring: Ring): void {
    this.cur = ring;
    this.history = [];
    this.handedOffFlag = true;
    this.generation++;
  }

  /** A new ring: keys gained become untrusted, keys lost are refused from now on. */
  adopt(ring: Ring): void {
    if (ring.ringHash === this.cur.ringHash) return;
    // Still settling from an earlier change: a key given away in it and
    // gained back now missed the writes in between, so every view counts.
    this.history.push(this.cur);
    this.cur = ring;
    this.handedOffFlag = false;
    this.generation++;
  }

  /** Draining: from now on this node owns nothing. `remaining` is the ring without the leaving members. */
  leave(remaining: Ring): void {
    this.leavingFlag = true;
    this.adopt(remaining);
    this.generation++;
  }

  /** This node's own handoff for the current view finished. */
  markHandedOff(view: string): void {
    if (view !== this.cur.ringHash || this.handedOffFlag) return;
    this.handedOffFlag = true;
    this.generation++;
  }

  /** Every peer reports the current view and its handoff done: gained keys are trusted again. */
  settle(view: string): void {
    if (view !== this.cur.ringHash || this.history.length === 0) return;
    this.history = [];
    this.generation++;
  }

  /** Whether this node may accept a write of `key`. */
  owns(key: string): boolean {
    return !this.leavingFlag && this.cur.isReplica(key, this.self, this.n);
  }

  /** Whether a held copy of `key` may be served: owned, and not gained in a change still settling. */
  trusts(key: string): boolean {
    if (!this.owns(key)) return false;
    for (const r of this.history) if (!r.isReplica(key, this.self, this.n)) return false;
    return true;
  }
}
