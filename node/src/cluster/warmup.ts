// Warm restarts: a node that just started (a crash, a rollout) refills its
// hot set before it reports ready, so PostgreSQL does not take all its
// misses at once and its memory hit ratio is back within seconds.
//
// Where values come from, and why that cannot make the node go back in time:
// - its peers say which keys are hot (Hot, peer.proto: the keys they used
//   most recently among those this node replicates), keys only;
// - the rows themselves are read from PostgreSQL, the source of truth, as
//   anti-entropy does: a peer's copy may be stale (it missed a write whose
//   hint was dropped), and a stale copy installed here would let a read
//   quorum of two stale replicas serve it without asking PostgreSQL;
// - each row goes through MemoryStore.apply, which stores a version only
//   above what the slot holds and above its floor (expiry markers and
//   tombstones included): a write acknowledged while the warm-up reads
//   PostgreSQL is either already here (the older row is refused) or arrives
//   later and replaces it; rows read from PostgreSQL are committed, so no
//   version here is one PostgreSQL may lose;
// - only keys this node owns in its current view are installed (ring-view.ts
//   fence), checked again at install time, after the read;
// - readMany returns live rows only: an expired newest version installs
//   nothing.
//
// Bounds: `maxBytes` (accounted bytes installed; at most half the store, so
// writes arriving meanwhile keep their room) and `timeoutMs` from the start,
// after which the warm-up stops where it is and the node reports ready.
import type { HotRequest, HotResponse } from '../gen/kvring/v1/peer.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { ENTRY_OVERHEAD_BYTES, entryBytes, type MemoryStore } from '../store/memory-store.js';
import type { DurableRow } from './coordinator.js';

/** A peer that can list its hot keys (PeerConnection). */
export interface HotPeer {
  readonly name: string;
  readonly up: boolean;
  hot(req: HotRequest, timeoutMs: number): Promise<HotResponse>;
}

export interface WarmupOptions {
  readonly self: string;
  /** Accounted bytes to install at most; 0 turns the warm-up off. */
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

export interface WarmupDeps {
  /** The peers as membership knows them now. */
  peers(): readonly HotPeer[];
  /** Live rows (values and tombstones) of the keys that have one: PostgreSQL. */
  readMany(keys: readonly string[]): Promise<Map<string, DurableRow>>;
  readonly store: MemoryStore;
  /**
   * Whether `peer` has opened its replication stream to this node: from then
   * on the writes it coordinates are sent here too (a write acknowledged
   * before that is in PostgreSQL when the warm-up reads it).
   */
  readonly connectedIn?: (peer: string) => boolean;
  /** Whether this node owns `key` in its current ring view. */
  owns(key: string): boolean;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  readonly now?: () => number;
}

/** Why the warm-up ended: the hot lists ran out, a bound was reached, it was off, or it failed. */
export type WarmupStop = 'done' | 'bytes' | 'time' | 'disabled' | 'failed';

export interface WarmupReport {
  readonly keys: number;
  readonly bytes: number;
  readonly durationMs: number;
  /** Where the values came from (PostgreSQL; peers only said which keys). */
  readonly source: 'postgres';
  readonly peersAsked: number;
  readonly peersAnswered: number;
  /** Distinct keys the peers listed that this node owns. */
  readonly listed: number;
  readonly stopped: WarmupStop;
}

/** Rows per PostgreSQL read. */
const BATCH = 500;
/** The most keys one peer is asked for (proto uint32, and a bound on its answer). */
const MAX_KEYS = 1_000_000;

export class Warmup {
  private wake: (() => void) | undefined;
  private result: WarmupReport | undefined;
  private keys = 0;
  private bytes = 0;
  private readonly now: () => number;
  private readonly started: number;
  private readonly deadline: number;

  constructor(
    private readonly opts: WarmupOptions,
    private readonly deps: WarmupDeps,
  ) {
    this.now = deps.now ?? (() => performance.now());
    this.started = this.now();
    this.deadline = this.started + opts.timeoutMs;
  }

  /** Undefined while running. */
  get report(): WarmupReport | undefined {
    return this.result;
  }

  /** What readiness says while this runs. */
  progress(): string {
    const left = Math.max(0, Math.ceil((this.deadline - this.now()) / 1000));
    return `warming up: ${this.keys} keys, ${this.bytes} bytes loaded (at most ${left} s more)`;
  }

  /** A peer connection changed state: the wait for peers looks again. */
  peerChanged(): void {
    this.wake?.();
  }

  /** Runs once; never rejects, and settles by the time bound (plus one turn). */
  async run(): Promise<WarmupReport> {
    let stopped: WarmupStop;
    let asked = 0;
    let answered = 0;
    let listed = 0;
    try {
      if (this.opts.maxBytes <= 0) stopped = 'disabled';
      else {
        // Half the time bound at most for connections: the wait ends as soon
        // as every peer is up both ways, so only a peer that is really down
        // costs it (a busy node may take seconds to connect to its peers).
        await this.peersUp(this.started + this.opts.timeoutMs / 2);
        const peers = this.deps.peers().filter((p) => p.up);
        asked = peers.length;
        const lists = await this.ask(peers);
        answered = lists.length;
        const { keys, cut } = this.plan(lists);
        listed = keys.length;
        stopped = await this.load(keys);
        // The hot lists held more than the byte bound: the plan stopped there.
        if (stopped === 'done' && cut) stopped = 'bytes';
      }
    } catch (err) {
      stopped = 'failed';
      this.deps.log.warn(
        { err: (err as Error).message },
        'warm-up failed; the node starts with what it loaded',
      );
    }
    return this.finish({ peersAsked: asked, peersAnswered: answered, listed, stopped });
  }

  private finish(r: Pick<WarmupReport, 'peersAsked' | 'peersAnswered' | 'listed' | 'stopped'>): WarmupReport {
    const report: WarmupReport = {
      ...r,
      keys: this.keys,
      bytes: this.bytes,
      durationMs: Math.round(this.now() - this.started),
      source: 'postgres',
    };
    this.result = report;
    const m = this.deps.metrics;
    m.warmupKeys.set({ source: report.source }, report.keys);
    m.warmupBytes.set({ source: report.source }, report.bytes);
    m.warmupDuration.set(report.durationMs / 1000);
    m.warmupStopped.set({ reason: report.stopped }, 1);
    this.deps.log.info({ ...report }, 'warm-up finished');
    return report;
  }

  /**
   * Waits until every peer is up both ways (this node reaches it; it has
   * reconnected to this node), or `until`: a peer that is down must not hold
   * the node back.
   */
  private async peersUp(until: number): Promise<void> {
    const { connectedIn } = this.deps;
    for (;;) {
      if (this.deps.peers().every((p) => p.up && (connectedIn?.(p.name) ?? true))) return;
      const left = until - this.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Every peer's hot list; a peer that fails or is too slow is left out. */
  private async ask(peers: readonly HotPeer[]): Promise<HotResponse[]> {
    const req: HotRequest = {
      member: this.opts.self,
      maxKeys: Math.min(MAX_KEYS, Math.ceil(this.opts.maxBytes / ENTRY_OVERHEAD_BYTES)),
      maxBytes: this.opts.maxBytes,
    };
    const timeout = Math.max(1, this.deadline - this.now());
    const answers = await Promise.all(
      peers.map((p) =>
        p.hot(req, timeout).catch((err: Error) => {
          this.deps.log.info({ peer: p.name, err: err.message }, 'warm-up: a peer did not list its hot keys');
          return undefined;
        }),
      ),
    );
    return answers.filter((a): a is HotResponse => a !== undefined);
  }

  /**
   * One list, hottest first: the peers' lists interleaved by rank, each key
   * once, only keys this node owns and does not hold at that version yet,
   * cut where their estimated size reaches the byte bound.
   */
  private plan(lists: readonly HotResponse[]): { keys: string[]; cut: boolean } {
    const out: string[] = [];
    const seen = new Set<string>();
    let estimate = 0;
    const longest = Math.max(0, ...lists.map((l) => l.keys.length));
    for (let rank = 0; rank < longest; rank++)
      for (const l of lists) {
        const k = l.keys[rank];
        if (k === undefined || seen.has(k.key)) continue;
        seen.add(k.key);
        if (!this.deps.owns(k.key) || (this.deps.store.knownVersion(k.key) ?? -1) >= k.version) continue;
        out.push(k.key);
        estimate += Buffer.byteLength(k.key) + ENTRY_OVERHEAD_BYTES + k.valueBytes;
        if (estimate >= this.opts.maxBytes) return { keys: out, cut: true };
      }
    return { keys: out, cut: false };
  }

  /** Reads the planned rows from PostgreSQL in batches and installs them, within both bounds. */
  private async load(plan: readonly string[]): Promise<WarmupStop> {
    for (let i = 0; i < plan.length; i += BATCH) {
      const batch = plan.slice(i, i + BATCH);
      const rows = await this.beforeDeadline(this.deps.readMany(batch));
      if (rows === undefined) return 'time';
      for (const key of batch) {
        const row = rows.get(key);
        if (row === undefined) continue;
        const value = row.tombstone ? null : row.value;
        const size = entryBytes(key, value);
        if (this.bytes + size > this.opts.maxBytes) return 'bytes';
        // The view may have changed while PostgreSQL answered.
        if (!this.deps.owns(key)) continue;
        if (this.deps.store.apply(key, value, row.version, row.tombstone, row.ttlMs)) {
          this.keys++;
          this.bytes += size;
        }
      }
    }
    return this.now() >= this.deadline ? 'time' : 'done';
  }

  /** `p`'s value, or undefined once the time bound passed first (its late answer is dropped). */
  private beforeDeadline<T>(p: Promise<T>): Promise<T | undefined> {
    const left = this.deadline - this.now();
    if (left <= 0) return Promise.resolve(undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)));
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }
}
