// Anti-entropy against PostgreSQL, the source of truth (never against a peer
// that may itself be stale). Two passes per round:
// - recent changes: rows PostgreSQL committed since the last round that this
//   node replicates, so a write whose coordinator died after the commit but
//   before replicating still reaches every replica;
// - held keys: versions of what this node holds, compared in batches, and
//   newer rows (values or tombstones) applied.
// A key whose newest version is a value whose TTL passed converges too: the
// replica gets an expiry marker of that version (MemoryStore.fence), so a
// replica that missed a TTL overwrite drops its older value instead of
// keeping it forever. Converged: every replica holds the newest version or
// nothing.
// The replica's own incarnation never changes while it runs, so values read
// from PostgreSQL after the round started can always be applied.
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import type { Ring } from '@kvring/client/ring';
import type { MemoryStore } from '../store/memory-store.js';
import type { DurableRow } from './coordinator.js';

/** A key's newest version in PostgreSQL; expired: it is a value whose TTL passed. */
export interface NewestVersion {
  readonly version: number;
  readonly expired: boolean;
}

export interface AntiEntropySource<C> {
  /** The newest version of each key that has a row, expired or not. */
  versions(keys: readonly string[]): Promise<Map<string, NewestVersion>>;
  /** Live rows of the keys that have one. */
  readMany(keys: readonly string[]): Promise<Map<string, DurableRow>>;
  /**
   * Changes after `cursor` (all changes from now on when undefined), oldest
   * first, at most `limit` in all: live rows, and the versions of rows that
   * had expired by the scan.
   */
  changedSince(
    cursor: C | undefined,
    limit: number,
  ): Promise<{ rows: DurableRow[]; expired: Array<{ key: string; version: number }>; cursor: C | undefined }>;
}

const BATCH = 500;
const MAX_PAGES = 20;

export class AntiEntropy<C> {
  private cursor: C | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  rounds = 0;

  constructor(
    private readonly source: AntiEntropySource<C>,
    private readonly store: MemoryStore,
    private readonly ring: () => Ring,
    private readonly self: string,
    private readonly n: number,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.round(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round; returns how many entries were refreshed. */
  async round(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let repaired = 0;
    try {
      repaired += await this.recentChanges();
      repaired += await this.heldKeys();
      this.rounds++;
      if (repaired > 0) this.log.info({ repaired }, 'anti-entropy refreshed entries from PostgreSQL');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'anti-entropy round failed');
    } finally {
      this.running = false;
    }
    return repaired;
  }

  private async recentChanges(): Promise<number> {
    let repaired = 0;
    const ring = this.ring();
    for (let page = 0; page < MAX_PAGES; page++) {
      const { rows, expired, cursor } = await this.source.changedSince(this.cursor, BATCH);
      this.cursor = cursor;
      for (const row of rows) if (ring.isReplica(row.key, this.self, this.n) && this.apply(row)) repaired++;
      // Only keys held: a floor for every expired key in the scan would crowd
      // out the floors of evicted keys.
      for (const e of expired)
        if (
          this.store.peek(e.key) !== undefined &&
          ring.isReplica(e.key, this.self, this.n) &&
          this.fence(e.key, e.version)
        )
          repaired++;
      if (rows.length + expired.length < BATCH) break;
    }
    return repaired;
  }

  private async heldKeys(): Promise<number> {
    let repaired = 0;
    const held: Array<[string, number]> = [];
    for (const [key, e] of this.store.entries()) held.push([key, e.version]);
    for (let i = 0; i < held.length; i += BATCH) {
      const slice = held.slice(i, i + BATCH);
      const pg = await this.source.versions(slice.map(([k]) => k));
      const batch: string[] = [];
      for (const [key, version] of slice) {
        const newest = pg.get(key);
        if (newest === undefined) continue;
        // Held at or below an expired newest version: that version or an older one; neither may stay.
        if (newest.expired) {
          if (newest.version >= version && this.fence(key, newest.version)) repaired++;
        } else if (newest.version > version) batch.push(key);
      }
      if (batch.length === 0) continue;
      const rows = await this.source.readMany(batch);
      for (const row of rows.values()) if (this.apply(row)) repaired++;
    }
    return repaired;
  }

  private apply(row: DurableRow): boolean {
    const ok = this.store.apply(
      row.key,
      row.tombstone ? null : row.value,
      row.version,
      row.tombstone,
      row.ttlMs,
    );
    if (ok) this.metrics.antiEntropyRepairs.inc();
    return ok;
  }

  private fence(key: string, version: number): boolean {
    const ok = this.store.fence(key, version);
    if (ok) this.metrics.antiEntropyRepairs.inc();
    return ok;
  }
}
