// Handing keys to their owners when ownership moves: after a ring change
// (keys this node no longer owns go to their new owners, then are dropped)
// and on drain before a scale-down (every key goes to the owners that remain
// once the leaving members are gone). A key that fails to arrive is not
// lost: PostgreSQL has it, and the new owner reads it from there on a miss.
import { PeerStatus, WriteCause } from '../gen/kvring/v1/peer.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import type { Ring } from '@kvring/client/ring';
import type { MemoryStore } from '../store/memory-store.js';
import type { ReplicaHandle } from './replica.js';

const BATCH = 256;

export interface HandoffResult {
  streamed: number;
  failed: number;
}

export class Handoff {
  constructor(
    private readonly store: MemoryStore,
    private readonly self: string,
    private readonly n: number,
    private readonly handleOf: (member: string) => ReplicaHandle | undefined,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {}

  /** Streams keys this node does not own under `ring` to their owners, then drops them. */
  async rebalance(ring: Ring): Promise<HandoffResult> {
    const moving: string[] = [];
    for (const [key] of this.store.entries()) if (!ring.isReplica(key, this.self, this.n)) moving.push(key);
    const r = await this.stream(moving, ring, new Set([this.self]), true);
    if (moving.length > 0) this.log.info({ ...r, ring: ring.ringHash }, 'handed keys to their new owners');
    return r;
  }

  /** Streams every held key to the owners that remain once `leaving` (this node included) are gone. */
  async drain(ring: Ring, leaving: readonly string[]): Promise<HandoffResult> {
    const gone = new Set([...leaving, this.self]);
    const remaining = ring.members.filter((m) => !gone.has(m));
    if (remaining.length === 0) return { streamed: 0, failed: 0 };
    const next = ring.withMembers(remaining);
    const keys: string[] = [];
    for (const [key] of this.store.entries()) keys.push(key);
    const r = await this.stream(keys, next, gone, false);
    this.log.info({ ...r, leaving: [...gone] }, 'drain finished');
    return r;
  }

  private async stream(
    keys: string[],
    ring: Ring,
    skip: ReadonlySet<string>,
    drop: boolean,
  ): Promise<HandoffResult> {
    const out: HandoffResult = { streamed: 0, failed: 0 };
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      await Promise.all(batch.map((key) => this.streamOne(key, ring, skip, drop, out)));
    }
    return out;
  }

  private async streamOne(
    key: string,
    ring: Ring,
    skip: ReadonlySet<string>,
    drop: boolean,
    out: HandoffResult,
  ): Promise<void> {
    const e = this.store.peek(key);
    if (e === undefined) return;
    const targets: ReplicaHandle[] = [];
    for (const m of ring.preferenceList(key, this.n)) {
      const h = skip.has(m) ? undefined : this.handleOf(m);
      if (h !== undefined && h.up) targets.push(h);
    }
    const w = {
      key,
      value: e.value,
      version: e.version,
      tombstone: e.tombstone,
      ttlMs: this.store.ttlRemainingMs(e),
    };
    const results = await Promise.allSettled(
      targets.map((h) => h.write(w, h.incarnation, WriteCause.WRITE_CAUSE_STREAM)),
    );
    const ok = results.some((r) => r.status === 'fulfilled' && r.value.status === PeerStatus.PEER_STATUS_OK);
    if (ok) {
      out.streamed++;
      this.metrics.keysStreamed.inc();
    } else out.failed++;
    if (drop) this.store.drop(key);
  }
}
