// The coordinator: any node runs Get/Set/Delete for any key. Writes commit
// in PostgreSQL first (which assigns the version), then reach W of the
// key's N replicas. Reads ask R replicas, take the highest version, consult
// PostgreSQL when any replica missed, and answer only once the winner is on
// a write quorum (blocking read repair), so a key's reads and writes are
// linearizable with R + W > N.
import { PeerStatus, WriteCause, type PeerResult } from '../gen/kvring/v1/peer.js';
import { DependencyUnavailableError, QuorumError, ShuttingDownError, WriteInDoubtError } from '../errors.js';
import { checkKey, checkTtl, checkValue, type Limits } from '../limits.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import type { Hints } from './hints.js';
import { QuorumCounter, highestVersion, holdersOf } from './quorum.js';
import type { ReplicaHandle, WriteRequest } from './replica.js';
import { SingleFlight } from '../util/singleflight.js';
import { RegressionReporter, watchRefusals } from './regression.js';
import type { VersionRegressionError } from '../errors.js';
import { doLinked, type FlightSlots } from '../tracing/flights.js';
import { inChildSpan } from '../tracing/tracer.js';

/** Conditions of a write (kvring.v1 SetRequest/DeleteRequest): see kvring.proto. */
export interface WriteCondition {
  /** Apply only if the key's current version is this one; 0 = absent, expired or deleted. */
  readonly expectedVersion?: number;
  /** Apply at most once; a retry returns the first outcome's version. */
  readonly idempotencyKey?: string;
}

/**
 * The durable store (PostgreSQL), as the coordinator needs it.
 *
 * Contract: versions are globally increasing across keys; a write that
 * starts after another write's commit gets a higher version. (One
 * PostgreSQL sequence, drawn after the row lock; replica floors and the
 * regression check rely on it: MemoryStore's lostFloor is one watermark
 * over versions of all keys, which per-key counters would make meaningless.)
 */
export interface DurableStore {
  /** Resolves with the new version only after the write committed. */
  write(op: { key: string; value: Buffer | null; tombstone: boolean; ttlMs: number }): Promise<number>;
  /** The live row (tombstones included), or undefined when absent or expired. */
  read(key: string): Promise<DurableRow | undefined>;
  /** `read`, plus the key's newest version even when that row expired (no row: the purge watermark, 0 before any purge). */
  readCurrent(key: string): Promise<{
    row: DurableRow | undefined;
    version: number;
    /**
     * The version sequence's last value, read in the same statement (when
     * the store can): below a version this node saw committed, PostgreSQL
     * lost commits, and its answer may be older than acknowledged writes.
     */
    sequence?: number;
  }>;
  /** Inserts a read-through value unless a live row exists; returns the current row. */
  hydrate(key: string, value: Buffer, ttlMs: number): Promise<DurableRow>;
  /**
   * A write with conditions (expected version, idempotency key), committed
   * alone; rejects with code VERSION_MISMATCH when the expectation fails.
   */
  writeConditional(
    op: { key: string; value: Buffer | null; tombstone: boolean; ttlMs: number },
    cond: WriteCondition,
  ): Promise<{ version: number; replayed: boolean }>;
  /** The highest version the store returned to this node, all committed (0 before any). */
  readonly highestVersion: number;
}

export interface DurableRow {
  readonly key: string;
  readonly value: Buffer | null;
  readonly version: number;
  readonly tombstone: boolean;
  readonly ttlMs: number;
}

export interface ReadThroughSource {
  fetch(key: string): Promise<{ found: true; value: Buffer } | { found: false }>;
}

export type Source = 'memory' | 'postgres' | 'legacy' | 'miss';

export interface GetResult {
  readonly found: boolean;
  readonly value: Buffer;
  readonly version: number;
  readonly source: Source;
}

export interface Placement {
  /** The key's preference list: N distinct members, primary first. */
  preferenceList(key: string): readonly ReplicaHandle[];
  /** Re-reads the membership now (a replica said this node's view is stale). */
  refresh?(): Promise<void>;
}

/** Replicas that refused a write because they do not own the key in their view. */
interface Refusals {
  notOwner: number;
}

export interface CoordinatorOptions {
  readonly readQuorum: number;
  readonly writeQuorum: number;
  readonly defaultTtlMs: number;
  readonly limits: Limits;
}

export interface CoordinatorDeps {
  readonly placement: Placement;
  readonly durable: DurableStore;
  readonly legacy: ReadThroughSource | undefined;
  readonly hints: Hints;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

const EMPTY = Buffer.alloc(0);
const NOT_FOUND: GetResult = { found: false, value: EMPTY, version: 0, source: 'miss' };

interface Winner {
  readonly value: Buffer | null;
  readonly version: number;
  readonly tombstone: boolean;
  readonly ttlMs: number;
}

export class Coordinator {
  private readonly readThroughs = new SingleFlight<string, PeerResult>();
  /** Tracing: where each read-through's legacy call notes its span for the waiters' links. */
  private readonly readThroughSlots: FlightSlots = new Map();
  private readonly regressions: RegressionReporter;
  private closing = false;
  private refusedAt: number | undefined;

  constructor(
    private readonly opts: CoordinatorOptions,
    private readonly deps: CoordinatorDeps,
  ) {
    this.regressions = new RegressionReporter(deps.log, deps.metrics);
  }

  /** Refuse new work (SIGTERM, drain). In-flight requests finish. */
  close(): void {
    this.closing = true;
  }

  /** When (performance.now()) a call was last refused because this node is closing; undefined: none yet. */
  get lastRefusalAt(): number | undefined {
    return this.refusedAt;
  }

  private refuseIfClosing(): void {
    if (!this.closing) return;
    this.refusedAt = performance.now();
    throw new ShuttingDownError('node is shutting down; retry on another node');
  }

  async set(key: string, value: Buffer, ttlMs: number, cond: WriteCondition = {}): Promise<number> {
    checkKey(this.opts.limits, key);
    checkValue(this.opts.limits, value);
    checkTtl(ttlMs);
    return this.write(key, value, false, ttlMs === 0 ? this.opts.defaultTtlMs : ttlMs, cond);
  }

  async delete(key: string, cond: WriteCondition = {}): Promise<number> {
    checkKey(this.opts.limits, key);
    return this.write(key, null, true, 0, cond);
  }

  async get(key: string): Promise<GetResult> {
    checkKey(this.opts.limits, key);
    this.refuseIfClosing();
    const prefs = this.deps.placement.preferenceList(key);
    // Captured before anything is read: a replica that restarts after this
    // point drops the read repair this request may send it.
    const incs = prefs.map((h) => h.incarnation);
    const answers = await inChildSpan('quorum read', { 'kvring.key': key }, () =>
      this.readQuorum(key, prefs),
    );

    const best = highestVersion(answers.map((a) => a.result));
    let winner: Winner | undefined = best >= 0 ? answers[best]!.result : undefined;
    let source: Source = 'memory';
    // A miss is not a tombstone: the replica may have evicted the key or
    // restarted. An unverified answer was stored after the replica forgot
    // the key's history, so it may be older than what it once held. Only
    // PostgreSQL can say whether a newer version exists.
    if (answers.some((a) => !a.result.found || a.result.unverified)) {
      // PostgreSQL lost commits (regression.ts): what it would answer may be
      // older than an acknowledged write. Fail loudly instead of serving it.
      if (this.regressions.regressed) throw this.regressions.readRefusal();
      const high = this.deps.durable.highestVersion;
      const { row, version, sequence } = await this.deps.durable.readCurrent(key);
      // PostgreSQL's sequence behind a version this node saw committed: it
      // lost commits, and what it answers may be older than an acknowledged
      // write. Detected here by any read, not only by the next write.
      if (sequence !== undefined && sequence < high)
        throw this.regressions.report({
          key,
          version: sequence,
          seen: high,
          detector: 'read',
          refused: false,
        });
      if (row === undefined && winner !== undefined && version >= winner.version) {
        // The newest version expired; what a replica holds is that version
        // (a late frame or another clock gave it a longer life) or older (a
        // replica that missed the overwrite). Neither may be served.
        this.fenceExpired(key, version, prefs, incs, answers);
        this.deps.metrics.hits.inc({ source: 'miss' });
        return NOT_FOUND;
      }
      if (row !== undefined && (winner === undefined || row.version > winner.version)) {
        winner = row;
        source = 'postgres';
      }
    }
    if (winner === undefined) return this.readThrough(key, prefs);

    const holders = holdersOf(
      answers.map((a) => a.result),
      winner.version,
    );
    if (holders < this.opts.writeQuorum) {
      const need = this.opts.writeQuorum - holders;
      await inChildSpan('read repair', { 'kvring.key': key, 'kvring.version': winner.version }, () =>
        this.writeBack(winner, key, prefs, incs, answers, need),
      );
      this.deps.metrics.readRepairs.inc({ mode: 'blocking' });
    }
    this.deps.metrics.hits.inc({ source: winner.tombstone ? 'miss' : source });
    if (winner.tombstone) return NOT_FOUND;
    return { found: true, value: winner.value ?? EMPTY, version: winner.version, source };
  }

  /**
   * Read-through as the key's primary: PostgreSQL again (a concurrent writer
   * or an earlier read-through may have filled it), else the legacy API,
   * then PostgreSQL (never overwriting a newer write) and a write quorum.
   * Concurrent requests for one key share one run, so a herd of misses makes
   * one legacy call.
   */
  readThroughAsPrimary(key: string): Promise<PeerResult> {
    return doLinked(this.readThroughs, this.readThroughSlots, 'read-through', key, (k) =>
      this.readThroughOnce(k),
    );
  }

  private async write(
    key: string,
    value: Buffer | null,
    tombstone: boolean,
    ttlMs: number,
    cond: WriteCondition,
  ): Promise<number> {
    this.refuseIfClosing();
    const prefs = this.deps.placement.preferenceList(key);
    const W = this.opts.writeQuorum;
    let up = 0;
    for (const h of prefs) if (h.up) up++;
    // Refuse before committing: a write that cannot reach W would be in doubt.
    if (up < W)
      throw new QuorumError(
        `only ${up} of ${prefs.length} replicas of this key are up; a write needs ${W} (KVRING_WRITE_QUORUM)`,
      );
    const incs = prefs.map((h) => h.incarnation);
    // Regression detection (regression.ts): versions seen before this write began.
    const floor = this.deps.durable.highestVersion;
    const { version, replayed } = await this.commit({ key, value, tombstone, ttlMs }, cond);
    if (replayed) return this.replay(key, version, prefs, incs);
    if (version <= floor)
      throw this.regressions.report({ key, version, seen: floor, detector: 'node', refused: true });
    this.regressions.committed(version);
    const w: WriteRequest = { key, value, version, tombstone, ttlMs };
    let refusal: { replica: string; held: number } | undefined;
    let decided = false;
    const targets = watchRefusals(prefs, version, (replica, held) => {
      // A refusal after the outcome is decided can only be reported.
      if (decided)
        this.checkRefusal(key, version, replica, held, false).catch((err: Error) =>
          this.deps.log.warn({ key, err: err.message }, 'could not check a late replica refusal'),
        );
      else if (refusal === undefined || held > refusal.held) refusal = { replica, held };
    });
    try {
      await inChildSpan('quorum write', { 'kvring.key': key, 'kvring.version': version }, () =>
        this.replicateToOwners(w, targets, incs),
      );
    } catch (err) {
      throw new WriteInDoubtError(
        `version ${version} is committed in PostgreSQL but ${(err as Error).message}; ` +
          'the write may or may not be visible to reads until replicas are repaired',
        version,
      );
    } finally {
      decided = true;
    }
    const seen = refusal;
    if (seen !== undefined) {
      const regression = await this.checkRefusal(key, version, seen.replica, seen.held, true);
      if (regression) throw regression;
    }
    return version;
  }

  private async commit(
    op: { key: string; value: Buffer | null; tombstone: boolean; ttlMs: number },
    cond: WriteCondition,
  ): Promise<{ version: number; replayed: boolean }> {
    if (cond.expectedVersion === undefined && !cond.idempotencyKey)
      return { version: await this.deps.durable.write(op), replayed: false };
    return this.deps.durable.writeConditional(op, cond);
  }

  /**
   * A retry of an idempotent write that committed before (possibly in
   * doubt then): its version is the answer, acknowledged only once that
   * version is on W replicas, or superseded in PostgreSQL by a later write.
   */
  private async replay(
    key: string,
    version: number,
    prefs: readonly ReplicaHandle[],
    incs: readonly string[],
  ): Promise<number> {
    const { row } = await this.deps.durable.readCurrent(key);
    if (row === undefined || row.version !== version) return version;
    try {
      await this.replicate(row, prefs, incs, this.opts.writeQuorum, WriteCause.WRITE_CAUSE_REPAIR);
    } catch (err) {
      throw new QuorumError(`replay of version ${version}: ${(err as Error).message}`);
    }
    return version;
  }

  /**
   * A replica refused version `version` of `key` because it holds `held`:
   * normal when a newer write of the key committed meanwhile (PostgreSQL
   * has it), a regression when PostgreSQL's current version is lower.
   */
  private async checkRefusal(
    key: string,
    version: number,
    replica: string,
    held: number,
    refused: boolean,
  ): Promise<VersionRegressionError | undefined> {
    const { version: current } = await this.deps.durable.readCurrent(key);
    if (current >= held) return undefined;
    return this.regressions.report({ key, version, seen: held, detector: 'replica', replica, refused });
  }

  /**
   * Replicates a committed write to W of the key's owners. A replica that
   * does not own the key in its view refuses it and does not count: the
   * view here is stale (or the replica drains). The membership is then read
   * again and, when the preference list changed, the same version goes to
   * the new one (a replica keeps the higher version, so resending is safe).
   * Incarnations of members new to the list are taken now: a member that
   * restarts after this still refuses it.
   */
  private async replicateToOwners(
    w: WriteRequest,
    prefs: readonly ReplicaHandle[],
    incs: readonly string[],
  ): Promise<void> {
    const refusals: Refusals = { notOwner: 0 };
    const W = this.opts.writeQuorum;
    try {
      await this.replicate(w, prefs, incs, W, WriteCause.WRITE_CAUSE_WRITE, refusals);
      return;
    } catch (err) {
      const { placement } = this.deps;
      if (refusals.notOwner === 0 || placement.refresh === undefined) throw err;
      await placement.refresh();
      const next = placement.preferenceList(w.key);
      if (next.length === prefs.length && next.every((h, i) => prefs[i]!.name === h.name)) throw err;
      this.deps.metrics.viewResends.inc();
      await this.replicate(
        w,
        next,
        next.map((h) => h.incarnation),
        W,
        WriteCause.WRITE_CAUSE_WRITE,
      );
    }
  }

  /**
   * Sends `w` to every replica (down ones get a hint instead) and resolves
   * once `need` applied it. Replicas that fail get a hint, unless they
   * restarted since `incs` was captured.
   */
  private replicate(
    w: WriteRequest,
    targets: readonly ReplicaHandle[],
    incs: readonly string[],
    need: number,
    cause: WriteCause,
    refusals?: Refusals,
  ): Promise<void> {
    const { hints } = this.deps;
    return new Promise<void>((resolve, reject) => {
      // Why each replica that failed did, for the error (an operator reads it).
      const why: string[] = [];
      const q = new QuorumCounter(need, targets.length, resolve, () =>
        reject(new Error(`only ${q.ok} of ${need} required replicas acknowledged (${why.join('; ')})`)),
      );
      for (let i = 0; i < targets.length; i++) {
        const h = targets[i]!;
        const inc = incs[i]!;
        if (!h.up) {
          hints.add(h.name, w, inc);
          why.push(`${h.name}: down`);
          q.failure();
          continue;
        }
        h.write(w, inc, cause).then(
          (r) => {
            if (r.status === PeerStatus.PEER_STATUS_OK) return q.success();
            // A non-owner would refuse the hint too; the new owners get the write instead.
            if (r.status === PeerStatus.PEER_STATUS_NOT_OWNER) {
              if (refusals) refusals.notOwner++;
            } else if (r.status !== PeerStatus.PEER_STATUS_STALE_INCARNATION) hints.add(h.name, w, inc);
            why.push(`${h.name}: ${PeerStatus[r.status] ?? r.status}${r.message ? ` ${r.message}` : ''}`);
            q.failure();
          },
          (err: Error) => {
            hints.add(h.name, w, inc);
            why.push(`${h.name}: ${err.message}`);
            q.failure();
          },
        );
      }
      q.start();
    });
  }

  /** Asks R up replicas (this node first), falling back to the others when one fails. */
  private readQuorum(key: string, prefs: readonly ReplicaHandle[]): Promise<Answer[]> {
    const R = this.opts.readQuorum;
    const order: ReplicaHandle[] = [];
    for (const h of prefs) if (h.isSelf) order.push(h);
    for (const h of prefs) if (!h.isSelf && h.up) order.push(h);
    if (order.length < R)
      return Promise.reject(
        new QuorumError(
          `only ${order.length} of ${prefs.length} replicas of this key are up; a read needs ${R} (KVRING_READ_QUORUM)`,
        ),
      );
    return new Promise<Answer[]>((resolve, reject) => {
      const answers: Answer[] = [];
      let next = 0;
      const q = new QuorumCounter(
        R,
        order.length,
        () => resolve(answers),
        () =>
          reject(
            new QuorumError(`only ${answers.length} of ${R} replicas answered a read (KVRING_READ_QUORUM)`),
          ),
      );
      const ask = (): void => {
        const h = order[next++]!;
        h.read(key).then(
          (r) => {
            if (q.done) return;
            if (r.status !== PeerStatus.PEER_STATUS_OK) return fail();
            answers.push({ handle: h, result: r });
            q.success();
          },
          () => fail(),
        );
      };
      const fail = (): void => {
        if (q.done) return;
        q.failure();
        if (!q.done && next < order.length) ask();
      };
      for (let i = 0; i < R; i++) ask();
      q.start();
    });
  }

  /**
   * Writes the read's winner to replicas that do not hold it until `need`
   * more hold it: stale members of the read set first, then the rest of the
   * preference list.
   */
  private async writeBack(
    winner: Winner,
    key: string,
    prefs: readonly ReplicaHandle[],
    incs: readonly string[],
    answers: readonly Answer[],
    need: number,
  ): Promise<void> {
    const targets: ReplicaHandle[] = [];
    const targetIncs: string[] = [];
    const holds = (h: ReplicaHandle): boolean =>
      answers.some((a) => a.handle === h && a.result.found && a.result.version === winner.version);
    const asked = (h: ReplicaHandle): boolean => answers.some((a) => a.handle === h);
    for (const pass of [true, false])
      for (let i = 0; i < prefs.length; i++) {
        const h = prefs[i]!;
        if (asked(h) === pass && !holds(h) && h.up) {
          targets.push(h);
          targetIncs.push(incs[i]!);
        }
      }
    const w: WriteRequest = {
      key,
      value: winner.value,
      version: winner.version,
      tombstone: winner.tombstone,
      ttlMs: winner.ttlMs,
    };
    try {
      await this.replicate(w, targets, targetIncs, need, WriteCause.WRITE_CAUSE_REPAIR);
    } catch (err) {
      throw new QuorumError(`read repair of version ${winner.version} failed: ${(err as Error).message}`);
    }
  }

  /**
   * Sends an expiry marker of `version` (the key's newest, expired) to the
   * read set's replicas that still hold a value, so they drop it and keep
   * the version as a floor: a replica that missed a TTL overwrite would
   * otherwise keep its older value forever. Best effort, not awaited: the
   * read's answer does not depend on it; failures leave hints, and
   * anti-entropy fences the rest.
   */
  private fenceExpired(
    key: string,
    version: number,
    prefs: readonly ReplicaHandle[],
    incs: readonly string[],
    answers: readonly Answer[],
  ): void {
    const targets: ReplicaHandle[] = [];
    const targetIncs: string[] = [];
    for (let i = 0; i < prefs.length; i++)
      if (answers.some((a) => a.handle === prefs[i] && a.result.found)) {
        targets.push(prefs[i]!);
        targetIncs.push(incs[i]!);
      }
    const w: WriteRequest = { key, value: null, version, tombstone: false, ttlMs: 0, expired: true };
    void this.replicate(w, targets, targetIncs, 0, WriteCause.WRITE_CAUSE_REPAIR);
  }

  private async readThrough(key: string, prefs: readonly ReplicaHandle[]): Promise<GetResult> {
    const primary = prefs.find((h) => h.up);
    if (primary === undefined) throw new QuorumError('no replica of this key is up');
    const r = primary.isSelf ? await this.readThroughAsPrimary(key) : await primary.legacyFetch(key);
    if (r.status !== PeerStatus.PEER_STATUS_OK)
      throw new DependencyUnavailableError(`read-through via ${primary.name} failed: ${r.message}`);
    if (!r.found || r.tombstone) {
      this.deps.metrics.hits.inc({ source: 'miss' });
      return NOT_FOUND;
    }
    const source: Source = r.fromLegacy ? 'legacy' : 'postgres';
    this.deps.metrics.hits.inc({ source });
    return { found: true, value: r.value, version: r.version, source };
  }

  private async readThroughOnce(key: string): Promise<PeerResult> {
    const prefs = this.deps.placement.preferenceList(key);
    const incs = prefs.map((h) => h.incarnation);
    let row = await this.deps.durable.read(key);
    let fromLegacy = false;
    if (row === undefined) {
      if (this.deps.legacy === undefined) return result(false, EMPTY, 0, false, 0, false);
      const got = await this.deps.legacy.fetch(key);
      if (!got.found) return result(false, EMPTY, 0, false, 0, false);
      row = await this.deps.durable.hydrate(key, got.value, this.opts.defaultTtlMs);
      fromLegacy = true;
    }
    const w: WriteRequest = row;
    try {
      await this.replicate(w, prefs, incs, this.opts.writeQuorum, WriteCause.WRITE_CAUSE_REPAIR);
    } catch (err) {
      throw new QuorumError(`read-through of version ${row.version}: ${(err as Error).message}`);
    }
    return result(true, row.value ?? EMPTY, row.version, row.tombstone, row.ttlMs, fromLegacy);
  }
}

interface Answer {
  readonly handle: ReplicaHandle;
  readonly result: PeerResult;
}

function result(
  found: boolean,
  value: Buffer,
  version: number,
  tombstone: boolean,
  ttlMs: number,
  fromLegacy: boolean,
): PeerResult {
  return {
    id: 0,
    status: PeerStatus.PEER_STATUS_OK,
    found,
    value,
    version,
    tombstone,
    ttlMs,
    applied: false,
    message: '',
    code: 0,
    fromLegacy,
    unverified: false,
  };
}
