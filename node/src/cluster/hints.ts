// Hinted handoff: writes a member missed, kept by the coordinator and
// replayed when the member answers again. One hint per key per member (the
// newest version wins), bounded by bytes and age: what falls out is covered
// by anti-entropy and by reads falling back to PostgreSQL. Each hint keeps
// the member's incarnation captured before the write committed; if the
// member restarted since, replaying could make it go back in time, so such
// hints are dropped. A hint whose TTL ran out is not dropped but replayed as
// an expiry marker: the member missed that version, may still hold an older
// value without a TTL, and must drop it (and never take it back).
import type { NodeMetrics } from '../metrics.js';
import type { WriteRequest } from './replica.js';

export interface Hint extends WriteRequest {
  readonly incarnation: string;
  readonly at: number;
  readonly bytes: number;
}

const HINT_OVERHEAD = 96;

class MemberHints {
  readonly byKey = new Map<string, Hint>();
  bytes = 0;
}

export class Hints {
  private readonly members = new Map<string, MemberHints>();
  peakTotal = 0;

  constructor(
    private readonly opts: { maxBytes: number; maxAgeMs: number },
    private readonly metrics?: NodeMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {}

  add(member: string, w: WriteRequest, incarnation: string): void {
    let m = this.members.get(member);
    if (m === undefined) this.members.set(member, (m = new MemberHints()));
    const prev = m.byKey.get(w.key);
    if (prev !== undefined) {
      if (prev.version >= w.version) return;
      this.remove(m, prev);
    }
    const bytes = w.key.length + (w.value?.length ?? 0) + HINT_OVERHEAD;
    const hint: Hint = { ...w, incarnation, at: this.now(), bytes };
    m.byKey.set(w.key, hint);
    m.bytes += bytes;
    this.metrics?.hints.inc({ outcome: 'stored' });
    // Over budget: drop the oldest (Map order is insertion order).
    for (const old of m.byKey.values()) {
      if (m.bytes <= this.opts.maxBytes) break;
      this.remove(m, old);
      this.metrics?.hints.inc({ outcome: 'dropped' });
    }
    this.peakTotal = Math.max(this.peakTotal, this.total);
    this.report(member, m);
  }

  /**
   * Up to `max` of the member's oldest hints still within the age bound,
   * removed from the store; those whose TTL ran out come back as expiry
   * markers of their version.
   */
  take(member: string, max: number): Hint[] {
    const m = this.members.get(member);
    if (m === undefined) return [];
    const out: Hint[] = [];
    const now = this.now();
    const oldest = now - this.opts.maxAgeMs;
    for (const h of m.byKey.values()) {
      this.remove(m, h);
      // A TTL runs from the write, not from the replay: hand over what is left of it.
      const left = h.ttlMs > 0 ? h.ttlMs - (now - h.at) : 0;
      if (h.at < oldest) {
        this.metrics?.hints.inc({ outcome: 'dropped' });
        continue;
      }
      if (h.ttlMs > 0 && left <= 0) out.push(expiryMarker(h));
      else out.push(h.ttlMs > 0 ? { ...h, ttlMs: Math.ceil(left) } : h);
      if (out.length >= max) break;
    }
    this.report(member, m);
    return out;
  }

  /** Puts back a hint whose replay failed (unless a newer one arrived meanwhile). */
  restore(member: string, h: Hint): void {
    let m = this.members.get(member);
    if (m === undefined) this.members.set(member, (m = new MemberHints()));
    const cur = m.byKey.get(h.key);
    if (cur !== undefined && cur.version >= h.version) return;
    if (cur !== undefined) this.remove(m, cur);
    // take() hands out the oldest hints first, so a restored hint is older than
    // any still kept: when newer ones filled the space meanwhile, it is the one
    // the byte bound drops.
    if (m.bytes + h.bytes > this.opts.maxBytes) {
      this.metrics?.hints.inc({ outcome: 'dropped' });
      this.report(member, m);
      return;
    }
    m.byKey.set(h.key, h);
    m.bytes += h.bytes;
    this.report(member, m);
  }

  /** The member restarted: hints captured for any other incarnation are dropped. */
  keepOnly(member: string, incarnation: string): number {
    const m = this.members.get(member);
    if (m === undefined) return 0;
    let dropped = 0;
    for (const h of m.byKey.values()) {
      if (h.incarnation === incarnation) continue;
      this.remove(m, h);
      dropped++;
    }
    if (dropped > 0) this.metrics?.hints.inc({ outcome: 'dropped' }, dropped);
    this.report(member, m);
    return dropped;
  }

  pending(member: string): number {
    return this.members.get(member)?.byKey.size ?? 0;
  }

  get total(): number {
    let n = 0;
    for (const m of this.members.values()) n += m.byKey.size;
    return n;
  }

  membersWithHints(): string[] {
    const out: string[] = [];
    for (const [name, m] of this.members) if (m.byKey.size > 0) out.push(name);
    return out;
  }

  private remove(m: MemberHints, h: Hint): void {
    m.byKey.delete(h.key);
    m.bytes -= h.bytes;
  }

  private report(member: string, m: MemberHints): void {
    this.metrics?.hintsPending.set({ member }, m.byKey.size);
    this.metrics?.hintsPendingBytes.set({ member }, m.bytes);
  }
}

/** The hint turned into an expiry marker of its version (see WriteRequest.expired). */
function expiryMarker(h: Hint): Hint {
  return { ...h, value: null, tombstone: false, ttlMs: 0, expired: true };
}
