// Handing keys to their owners when ownership moves: after a ring change
// (keys this node no longer owns go to their new owners, then are dropped)
// and on drain before a scale-down (every key goes to the owners that remain
// once the leaving members are gone, and the hints this node holds are
// replayed or handed over). The ring view (ring-view.ts) is switched before
// a stream starts: from then on this node refuses writes for the keys it
// streams, so the stream carries every version it ever acknowledged. A key
// is dropped only once each owner took it; until then it is sent again.
import { PeerStatus, WriteCause } from '../gen/kvring/v1/peer.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import type { Ring } from '@kvring/client/ring';
import type { MemoryStore } from '../store/memory-store.js';
import type { Hints } from './hints.js';
import type { ReplicaHandle, WriteRequest } from './replica.js';
import type { RingView } from './ring-view.js';

const BATCH = 256;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2_000;
/** How long a drain keeps sending keys the remaining owners refused; the operator retries a failed drain. */
const DRAIN_RETRY_MS = 30_000;

export interface HandoffResult {
  streamed: number;
  failed: number;
}

export interface HandoffDeps {
  readonly store: MemoryStore;
  readonly self: string;
  readonly n: number;
  readonly view: RingView;
  readonly handleOf: (member: string) => ReplicaHandle | undefined;
  readonly hints: Hints;
  /** Replays every hint whose member answers (the hint replayer), until `deadline` (performance.now()). */
  readonly replayHints: (deadline: number) => Promise<void>;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

export class Handoff {
  private stopped = false;

  constructor(private readonly d: HandoffDeps) {}

  stop(): void {
    this.stopped = true;
  }

  /**
   * After the view switched to `ring`: streams the keys this node no longer
   * owns to their owners until each took them (or the view changes again),
   * then reports the handoff done.
   */
  async rebalance(ring: Ring): Promise<HandoffResult> {
    const { store, self, n, view } = this.d;
    const total: HandoffResult = { streamed: 0, failed: 0 };
    for (
      let delay = RETRY_MIN_MS;
      !this.stopped && view.ring === ring;
      delay = Math.min(RETRY_MAX_MS, delay * 2)
    ) {
      const moving: string[] = [];
      for (const [key] of store.entries()) if (!ring.isReplica(key, self, n)) moving.push(key);
      const r = await this.stream(moving, ring, new Set([self]));
      total.streamed += r.streamed;
      total.failed = r.failed;
      if (r.failed === 0) {
        view.markHandedOff(ring.ringHash);
        break;
      }
      await new Promise((res) => setTimeout(res, delay).unref());
    }
    if (total.streamed > 0 || total.failed > 0)
      this.d.log.info({ ...total, ring: ring.ringHash }, 'handed keys to their new owners');
    return total;
  }

  /**
   * Streams every held key to the owners that remain once `leaving` (this
   * node included) are gone, after switching to a view where this node owns
   * nothing: from then on it takes no write, so it no longer counts toward
   * W. Then replays its hints, and hands what it could not replay to the
   * remaining owners of each key.
   */
  async drain(ring: Ring, leaving: readonly string[]): Promise<HandoffResult> {
    const { store, view, self } = this.d;
    const gone = new Set([...leaving, self]);
    const remaining = ring.members.filter((m) => !gone.has(m));
    if (remaining.length === 0) return { streamed: 0, failed: 0 };
    const next = ring.withMembers(remaining);
    view.leave(next);
    // The remaining members refuse keys they do not own yet: until each
    // hears that this node leaves (its next Hello), a pass may fail, and
    // failed keys are kept and sent again.
    const r: HandoffResult = { streamed: 0, failed: 0 };
    const deadline = performance.now() + DRAIN_RETRY_MS;
    for (let delay = RETRY_MIN_MS; !this.stopped; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
      const keys: string[] = [];
      for (const [key] of store.entries()) keys.push(key);
      const pass = await this.stream(keys, next, gone);
      r.streamed += pass.streamed;
      r.failed = pass.failed;
      if (pass.failed === 0 || performance.now() + delay > deadline) break;
      await new Promise((res) => setTimeout(res, delay).unref());
    }
    r.failed += await this.handOverHints(next, gone);
    if (r.failed === 0) view.markHandedOff(next.ringHash);
    this.d.log.info({ ...r, leaving: [...gone] }, 'drain finished');
    return r;
  }

  /** Replays hints to members that answer; the rest go to the owners of their keys under `ring`. Returns failures. */
  private async handOverHints(ring: Ring, skip: ReadonlySet<string>): Promise<number> {
    const { hints } = this.d;
    await this.d.replayHints(performance.now() + 10_000);
    let failed = 0;
    for (const member of hints.membersWithHints())
      for (const h of hints.take(member, Number.MAX_SAFE_INTEGER)) {
        if (!(await this.sendToOwners(h, ring, skip))) failed++;
      }
    return failed;
  }

  private async stream(keys: string[], ring: Ring, skip: ReadonlySet<string>): Promise<HandoffResult> {
    const out: HandoffResult = { streamed: 0, failed: 0 };
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      await Promise.all(batch.map((key) => this.streamOne(key, ring, skip, out)));
    }
    return out;
  }

  private async streamOne(
    key: string,
    ring: Ring,
    skip: ReadonlySet<string>,
    out: HandoffResult,
  ): Promise<void> {
    const { store } = this.d;
    const e = store.peek(key);
    if (e === undefined) return;
    // An unverified entry may be older than a version this node once held:
    // the receiver would take it for current. The owner reads PostgreSQL on
    // a miss instead.
    if (e.unverified) {
      if (!ring.isReplica(key, this.d.self, this.d.n)) store.drop(key);
      return;
    }
    const w: WriteRequest = {
      key,
      value: e.value,
      version: e.version,
      tombstone: e.tombstone,
      ttlMs: store.ttlRemainingMs(e),
    };
    if (await this.sendToOwners(w, ring, skip)) {
      out.streamed++;
      this.d.metrics.keysStreamed.inc();
      // Each owner holds it now; a draining node owns nothing in `ring`.
      if (!ring.isReplica(key, this.d.self, this.d.n)) store.drop(key);
    } else out.failed++;
  }

  /** Sends `w` to every owner under `ring` but `skip`; true when each took it (a down owner has not). */
  private async sendToOwners(w: WriteRequest, ring: Ring, skip: ReadonlySet<string>): Promise<boolean> {
    const targets: ReplicaHandle[] = [];
    for (const m of ring.preferenceList(w.key, this.d.n)) {
      if (skip.has(m)) continue;
      const h = this.d.handleOf(m);
      if (h === undefined || !h.up) return false;
      targets.push(h);
    }
    const results = await Promise.allSettled(
      targets.map((h) => h.write(w, h.incarnation, WriteCause.WRITE_CAUSE_STREAM)),
    );
    return results.every(
      (r) =>
        r.status === 'fulfilled' &&
        (r.value.status === PeerStatus.PEER_STATUS_OK ||
          // Restarted since: it holds nothing older, and a miss reads PostgreSQL.
          r.value.status === PeerStatus.PEER_STATUS_STALE_INCARNATION),
    );
  }
}
