// A small in-process cluster for ring-transition tests: each member has its
// own memory store, replica, placement, hints, handoff and coordinator, wired
// as node.ts wires them; members reach each other through scripted handles
// (a viewer can see a member as down, and stream writes can be held at a
// gate), and PostgreSQL is a map that hands out versions. No timers, no
// sockets: every step is driven by the test.
import { PeerStatus, type PeerResult, type WriteCause } from '../../../src/gen/kvring/v1/peer.js';
import { WriteCause as Cause } from '../../../src/gen/kvring/v1/peer.js';
import { Coordinator, type DurableRow, type DurableStore } from '../../../src/cluster/coordinator.js';
import { Handoff } from '../../../src/cluster/handoff.js';
import { HintReplayer } from '../../../src/cluster/hint-replayer.js';
import { Hints } from '../../../src/cluster/hints.js';
import { LocalReplica } from '../../../src/cluster/local-replica.js';
import { RingPlacement } from '../../../src/cluster/placement.js';
import type { ReplicaHandle, WriteRequest } from '../../../src/cluster/replica.js';
import { RingView } from '../../../src/cluster/ring-view.js';
import { createLogger } from '../../../src/log.js';
import { NodeMetrics } from '../../../src/metrics.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { Ring } from '@kvring/client/ring';

export const N = 3;
const VNODES = 16;
const log = createLogger('silent');

/** PostgreSQL as the coordinator sees it: versions from one sequence, as the real store's. */
export class RingSimDurable implements DurableStore {
  readonly rows = new Map<string, DurableRow>();
  private seq = 0;

  get highestVersion(): number {
    return this.seq;
  }

  write(op: { key: string; value: Buffer | null; tombstone: boolean; ttlMs: number }): Promise<number> {
    const version = ++this.seq;
    this.rows.set(op.key, { ...op, version });
    return Promise.resolve(version);
  }
  writeConditional(): Promise<{ version: number; replayed: boolean }> {
    return Promise.reject(new Error('the ring simulation makes no conditional writes'));
  }
  read(key: string): Promise<DurableRow | undefined> {
    return Promise.resolve(this.rows.get(key));
  }
  async readCurrent(key: string): Promise<{ row: DurableRow | undefined; version: number }> {
    const row = await this.read(key);
    return { row, version: row?.version ?? 0 };
  }
  hydrate(key: string): Promise<DurableRow> {
    return Promise.resolve(this.rows.get(key)!);
  }
}

/** One write a member's replica answered, as the test inspects it afterwards. */
export interface Answered {
  readonly member: string;
  readonly key: string;
  readonly version: number;
  readonly cause: WriteCause;
  readonly ok: boolean;
}

export class RingSimMember {
  readonly store = new MemoryStore({ maxBytes: 1 << 24, now: () => 0 });
  readonly replica: LocalReplica;
  readonly view: RingView;
  readonly placement: RingPlacement;
  readonly hints: Hints;
  readonly handoff: Handoff;
  readonly coordinator: Coordinator;
  /** Members this member sees as down. */
  readonly downs = new Set<string>();
  ring: Ring;

  constructor(
    readonly name: string,
    readonly sim: RingSim,
    members: readonly string[],
  ) {
    const metrics = new NodeMetrics({ member: name });
    this.ring = sim.ring(members);
    this.view = new RingView(name, N, this.ring);
    this.replica = new LocalReplica(this.store, `${name}-1`, () => 0, this.view);
    this.hints = new Hints({ maxBytes: 1 << 20, maxAgeMs: 60_000 }, metrics, () => 0);
    this.placement = new RingPlacement(this.ring, this.handles(), N);
    // As Membership does: a refresh reads what DNS lists, less the members that drain.
    this.placement.refresher = () =>
      this.adopt(sim.discovered.filter((m) => !sim.members.get(m)?.view.leaving));
    const replayer = new HintReplayer(this.hints, (m) => this.placement.handle(m), log, metrics, 3_600_000);
    replayer.stop();
    this.handoff = new Handoff({
      store: this.store,
      self: name,
      n: N,
      view: this.view,
      handleOf: (m) => this.placement.handle(m),
      hints: this.hints,
      replayHints: (deadline) => replayer.replayAll(deadline),
      log,
      metrics,
    });
    this.coordinator = new Coordinator(
      { readQuorum: 2, writeQuorum: 2, defaultTtlMs: 0, limits: sim.limits },
      { placement: this.placement, durable: sim.durable, legacy: undefined, hints: this.hints, log, metrics },
    );
  }

  /** This member learns a new member list, as Membership + node.ts's onRingChange do. */
  async adopt(members: readonly string[]): Promise<void> {
    this.ring = this.sim.ring(members);
    this.view.adopt(this.ring);
    this.placement.update(this.ring, this.handles());
    await this.handoff.rebalance(this.ring);
  }

  version(key: string): number {
    return this.store.peek(key)?.version ?? 0;
  }

  private handles(): Map<string, ReplicaHandle> {
    const out = new Map<string, ReplicaHandle>();
    for (const m of this.sim.names) out.set(m, new ScriptedHandle(this, m));
    return out;
  }
}

/** How `viewer` reaches `target`: straight into its replica, unless scripted otherwise. */
class ScriptedHandle implements ReplicaHandle {
  readonly isSelf: boolean;
  constructor(
    private readonly viewer: RingSimMember,
    readonly name: string,
  ) {
    this.isSelf = viewer.name === name;
  }
  private get target(): RingSimMember {
    return this.viewer.sim.member(this.name);
  }
  get up(): boolean {
    return !this.viewer.downs.has(this.name) && !this.viewer.sim.gone.has(this.name);
  }
  get incarnation(): string {
    return this.target.replica.incarnation;
  }
  read(key: string): Promise<PeerResult> {
    return Promise.resolve(this.target.replica.read(0, key));
  }
  async write(w: WriteRequest, incarnation: string, cause: WriteCause): Promise<PeerResult> {
    if (cause === Cause.WRITE_CAUSE_STREAM) await this.viewer.sim.streamGate;
    const r = this.target.replica.write(0, w, incarnation);
    this.viewer.sim.answered.push({
      member: this.name,
      key: w.key,
      version: w.version,
      cause,
      ok: r.status === PeerStatus.PEER_STATUS_OK,
    });
    return r;
  }
  legacyFetch(): Promise<PeerResult> {
    return Promise.reject(new Error('no legacy API in ring tests'));
  }
}

export class RingSim {
  readonly durable = new RingSimDurable();
  readonly members = new Map<string, RingSimMember>();
  readonly answered: Answered[] = [];
  readonly gone = new Set<string>();
  readonly limits = { maxKeyBytes: 1024, maxValueBytes: 1 << 20, maxBatch: 100 };
  /** What DNS lists now: a member's refresh adopts it. */
  discovered: readonly string[] = [];
  /** Stream writes wait on this; replace it with a held promise to pause every handoff stream. */
  streamGate: Promise<void> = Promise.resolve();

  constructor(readonly names: readonly string[]) {}

  ring(members: readonly string[]): Ring {
    return new Ring(members, { vnodes: VNODES });
  }

  /** Adds a member whose first view is `members`. */
  add(name: string, members: readonly string[]): RingSimMember {
    const m = new RingSimMember(name, this, members);
    this.members.set(name, m);
    return m;
  }

  member(name: string): RingSimMember {
    const m = this.members.get(name);
    if (m === undefined) throw new Error(`no member ${name} in the simulation`);
    return m;
  }

  /** Holds every stream write until the returned function is called. */
  holdStreams(): () => void {
    let release!: () => void;
    this.streamGate = new Promise<void>((r) => (release = r));
    return () => {
      this.streamGate = Promise.resolve();
      release();
    };
  }

  /** A key whose preference list is `before` under `from` and starts with `first` without `without` under `to`. */
  findKey(
    from: readonly string[],
    to: readonly string[],
    pick: (before: string[], after: string[]) => boolean,
  ): string {
    const a = this.ring(from);
    const b = this.ring(to);
    for (let i = 0; i < 10_000; i++) {
      const key = `ring-key-${i}`;
      if (pick([...a.preferenceList(key, N)], [...b.preferenceList(key, N)])) return key;
    }
    throw new Error('no key with the wanted preference lists among 10,000');
  }
}
