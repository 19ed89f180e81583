// Scripted stand-ins for the coordinator's dependencies, so the read path,
// hints, handoff and anti-entropy can be driven step by step in unit tests:
// - FakeDurable: PostgreSQL as the coordinator sees it, on a hand-moved
//   clock, assigning every write its version from ONE sequence (the
//   DurableStore contract: versions increase across keys);
// - ScriptedHandle: a member behind a LocalReplica whose availability and
//   write delivery the test decides (up/down, writes failing like a timeout);
// - replicaSet(): three such members (a, b, c), each with its own store.
import type { AntiEntropySource } from '../../../src/cluster/anti-entropy.js';
import { Coordinator, type DurableRow, type DurableStore } from '../../../src/cluster/coordinator.js';
import { Hints } from '../../../src/cluster/hints.js';
import { LocalReplica } from '../../../src/cluster/local-replica.js';
import type { ReplicaHandle, WriteRequest } from '../../../src/cluster/replica.js';
import type { PeerResult, WriteCause } from '../../../src/gen/kvring/v1/peer.js';
import { createLogger } from '../../../src/log.js';
import { NodeMetrics } from '../../../src/metrics.js';
import { MemoryStore } from '../../../src/store/memory-store.js';

export interface Clock {
  t: number;
}

interface StoredRow {
  value: Buffer | null;
  version: number;
  tombstone: boolean;
  /** In the clock's ms; 0 = never. */
  expiresAt: number;
}

export class FakeDurable implements DurableStore {
  readonly rows = new Map<string, StoredRow>();
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  /** The next version the sequence will hand out (for scripting writes that bypass write()). */
  nextVersion(): number {
    return ++this.seq;
  }

  get highestVersion(): number {
    return this.seq;
  }

  writeConditional(): Promise<{ version: number; replayed: boolean }> {
    return Promise.reject(new Error('no conditional writes in this fake'));
  }

  write(op: { key: string; value: Buffer | null; tombstone: boolean; ttlMs: number }): Promise<number> {
    const version = this.nextVersion();
    this.rows.set(op.key, {
      value: op.value,
      version,
      tombstone: op.tombstone,
      expiresAt: op.tombstone || op.ttlMs === 0 ? 0 : this.clock.t + op.ttlMs,
    });
    return Promise.resolve(version);
  }

  read(key: string): Promise<DurableRow | undefined> {
    return Promise.resolve(this.live(key));
  }

  readCurrent(key: string): Promise<{ row: DurableRow | undefined; version: number }> {
    return Promise.resolve({ row: this.live(key), version: this.rows.get(key)?.version ?? 0 });
  }

  hydrate(key: string, value: Buffer, ttlMs: number): Promise<DurableRow> {
    const cur = this.rows.get(key);
    if (cur === undefined || (!cur.tombstone && this.expired(cur))) {
      this.rows.set(key, {
        value,
        version: this.nextVersion(),
        tombstone: false,
        expiresAt: ttlMs === 0 ? 0 : this.clock.t + ttlMs,
      });
    }
    return Promise.resolve(this.row(key, this.rows.get(key)!));
  }

  /** The row as anti-entropy's source sees it: newest version, and whether that value expired. */
  newest(key: string): { version: number; expired: boolean } | undefined {
    const r = this.rows.get(key);
    return r === undefined ? undefined : { version: r.version, expired: !r.tombstone && this.expired(r) };
  }

  live(key: string): DurableRow | undefined {
    const r = this.rows.get(key);
    if (r === undefined || (!r.tombstone && this.expired(r))) return undefined;
    return this.row(key, r);
  }

  private expired(r: StoredRow): boolean {
    return r.expiresAt !== 0 && r.expiresAt <= this.clock.t;
  }

  private row(key: string, r: StoredRow): DurableRow {
    const ttlMs = r.expiresAt === 0 ? 0 : Math.max(1, r.expiresAt - this.clock.t);
    return { key, value: r.value, version: r.version, tombstone: r.tombstone, ttlMs };
  }
}

const FAILED: Error = new Error('scripted failure (as a timeout would)');

/** One member as one coordinator sees it: a LocalReplica behind switches the test flips. */
export class ScriptedHandle implements ReplicaHandle {
  readonly isSelf = false;
  up = true;
  /** Writes reject (the coordinator keeps a hint) without reaching the replica. */
  failWrites = false;
  readonly writes: WriteRequest[] = [];

  constructor(
    readonly name: string,
    readonly replica: LocalReplica,
  ) {}

  get incarnation(): string {
    return this.replica.incarnation;
  }

  read(key: string): Promise<PeerResult> {
    if (!this.up) return Promise.reject(FAILED);
    return Promise.resolve(this.replica.read(0, key));
  }

  write(w: WriteRequest, incarnation: string, _cause: WriteCause): Promise<PeerResult> {
    if (!this.up || this.failWrites) return Promise.reject(FAILED);
    this.writes.push(w);
    return Promise.resolve(this.replica.write(0, w, incarnation));
  }

  legacyFetch(_key: string): Promise<PeerResult> {
    return Promise.reject(new Error('no legacy API in this test'));
  }
}

export interface Member {
  readonly name: string;
  readonly store: MemoryStore;
  readonly replica: LocalReplica;
}

export function member(name: string, clock: Clock, maxBytes = 1 << 20): Member {
  const store = new MemoryStore({ maxBytes, now: () => clock.t });
  return { name, store, replica: new LocalReplica(store, `${name}-inc`, () => clock.t) };
}

export const quietLog = createLogger('silent');

/**
 * A coordinator over `members` (preference list in that order) with its
 * own handles and hints, as one node of the cluster would have them.
 */
export function coordinatorOver(
  members: readonly Member[],
  durable: DurableStore,
  clock: Clock,
  quorum = { r: 2, w: 2 },
): { coordinator: Coordinator; handles: Map<string, ScriptedHandle>; hints: Hints; metrics: NodeMetrics } {
  const handles = new Map(members.map((m) => [m.name, new ScriptedHandle(m.name, m.replica)]));
  const prefs = [...handles.values()];
  const metrics = new NodeMetrics({ member: 'test' });
  const hints = new Hints({ maxBytes: 1 << 20, maxAgeMs: 600_000 }, metrics, () => clock.t);
  const coordinator = new Coordinator(
    {
      readQuorum: quorum.r,
      writeQuorum: quorum.w,
      defaultTtlMs: 0,
      limits: { maxKeyBytes: 256, maxValueBytes: 1 << 20, maxBatch: 100 },
    },
    { placement: { preferenceList: () => prefs }, durable, legacy: undefined, hints, log: quietLog, metrics },
  );
  return { coordinator, handles, hints, metrics };
}

/**
 * Pushes `key` out of `m`'s store under memory pressure: fills it with other
 * keys (versions from the durable sequence, as real writes would have)
 * until `key` is gone. Bounded by the store's capacity.
 */
export function evict(m: Member, key: string, durable: FakeDurable): void {
  const value = Buffer.alloc(64);
  for (let i = 0; i < 100_000 && m.store.peek(key) !== undefined; i++)
    m.store.apply(`filler-${m.name}-${i}`, value, durable.nextVersion(), false, 0);
  if (m.store.peek(key) !== undefined) throw new Error(`could not evict ${key} from ${m.name}`);
}

/**
 * Anti-entropy's view of `durable`: newest versions (expired ones flagged),
 * live rows, and one scripted page of changes handed out on the first scan.
 */
export function antiEntropySource(
  durable: FakeDurable,
  page: { rows?: DurableRow[]; expired?: Array<{ key: string; version: number }> } = {},
): AntiEntropySource<number> {
  return {
    versions: (keys) => {
      const out = new Map<string, { version: number; expired: boolean }>();
      for (const k of keys) {
        const n = durable.newest(k);
        if (n !== undefined) out.set(k, n);
      }
      return Promise.resolve(out);
    },
    readMany: (keys) => {
      const out = new Map<string, DurableRow>();
      for (const k of keys) {
        const r = durable.live(k);
        if (r !== undefined) out.set(k, r);
      }
      return Promise.resolve(out);
    },
    changedSince: (cursor) =>
      Promise.resolve(
        cursor === undefined
          ? { rows: page.rows ?? [], expired: page.expired ?? [], cursor: 1 }
          : { rows: [], expired: [], cursor },
      ),
  };
}
