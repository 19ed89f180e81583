// "A replica never goes back in time, across eviction and expiry" and "TTL
// overwrites converge" (docs/ARCHITECTURE.md), replayed step by step through
// the real Coordinator, LocalReplica, MemoryStore, Hints, HintReplayer,
// Handoff and AntiEntropy, with scripted members and a scripted PostgreSQL.
import { describe, expect, it } from '@jest/globals';
import { Ring } from '@kvring/client/ring';
import { AntiEntropy, type AntiEntropySource } from '../../src/cluster/anti-entropy.js';
import { Handoff } from '../../src/cluster/handoff.js';
import { HintReplayer } from '../../src/cluster/hint-replayer.js';
import { Hints } from '../../src/cluster/hints.js';
import { RingView } from '../../src/cluster/ring-view.js';
import { PeerOpKind, WriteCause, type PeerResult } from '../../src/gen/kvring/v1/peer.js';
import { NodeMetrics } from '../../src/metrics.js';
import {
  FakeDurable,
  ScriptedHandle,
  antiEntropySource,
  coordinatorOver,
  evict,
  member,
  quietLog,
  type Clock,
  type Member,
} from './support/replica-fakes.js';

const buf = (s: string): Buffer => Buffer.from(s);

/** Three members a, b, c, a scripted PostgreSQL and coordinators x, y, z over them. */
function cluster(maxBytes = 1 << 20) {
  const clock: Clock = { t: 1000 };
  const durable = new FakeDurable(clock);
  const a = member('a', clock, maxBytes);
  const b = member('b', clock, maxBytes);
  const c = member('c', clock, maxBytes);
  const over = () => coordinatorOver([a, b, c], durable, clock);
  return { clock, durable, a, b, c, x: over(), y: over(), z: over() };
}

async function replay(hints: Hints, handles: Map<string, ScriptedHandle>): Promise<void> {
  const replayer = new HintReplayer(hints, (m) => handles.get(m), quietLog, new NodeMetrics(), 3_600_000);
  replayer.stop();
  await replayer.replayAll();
}

/** Writes other keys into m's store until its floors table has been churned through. */
function churn(m: Member, durable: FakeDurable, count: number): void {
  for (let i = 0; i < count; i++)
    m.store.apply(`churn-${m.name}-${i}`, buf('x'), durable.nextVersion(), false, 0);
}

/** One anti-entropy round on member m alone (it replicates every key, N = 1). */
async function antiEntropyRound(m: Member, source: AntiEntropySource<number>): Promise<void> {
  await new AntiEntropy(
    source,
    m.store,
    () => new Ring([m.name]),
    m.name,
    1,
    quietLog,
    new NodeMetrics(),
  ).round();
}

/** Whether a replica's answer would be taken as the key's current value without asking PostgreSQL. */
const servedAsCurrent = (r: PeerResult): boolean => r.found && r.unverified !== true;

describe('a replica never goes back in time across eviction', () => {
  // The review's scenario: v1 on a, b, c; x writes v2 while a times out (x
  // keeps a hint for a); y writes v3, a and b apply it, c misses it; a
  // evicts the key; x replays v2 to a; a read whose set is {c, a} must not
  // return v2.
  async function staleHintAfterEviction(
    lostFloors: boolean,
  ): Promise<{ got: string; v3: number; version: number }> {
    const { durable, a, x, y, z } = cluster(lostFloors ? 16 * 1024 : 1 << 20);
    await x.coordinator.set('k', buf('v1'), 0);
    x.handles.get('a')!.failWrites = true;
    await x.coordinator.set('k', buf('v2'), 0);
    x.handles.get('a')!.failWrites = false;
    expect(x.hints.pending('a')).toBe(1);
    y.handles.get('c')!.failWrites = true;
    const v3 = await y.coordinator.set('k', buf('v3'), 0);
    evict(a, 'k', durable);
    if (lostFloors) churn(a, durable, 2000);
    await replay(x.hints, x.handles);
    expect(x.hints.pending('a')).toBe(0);
    z.handles.get('b')!.up = false; // the read set is {a, c}
    const r = await z.coordinator.get('k');
    return { got: r.value.toString(), v3, version: r.version };
  }

  it('refuses a replayed hint older than the evicted version (exact floor): the read returns v3', async () => {
    const { got, v3, version } = await staleHintAfterEviction(false);
    expect([got, version]).toEqual(['v3', v3]);
  });

  it('marks the replayed hint unverified once the floor itself was dropped: the read still returns v3', async () => {
    const { got, v3, version } = await staleHintAfterEviction(true);
    expect([got, version]).toEqual(['v3', v3]);
  });

  it('an evicted tombstone still blocks an older value arriving later: the read answers not found', async () => {
    const { durable, a, x, y, z } = cluster();
    x.handles.get('a')!.failWrites = true;
    await x.coordinator.set('k', buf('old'), 0); // b, c hold it; x keeps a hint for a
    x.handles.get('a')!.failWrites = false;
    y.handles.get('c')!.failWrites = true;
    await y.coordinator.delete('k'); // a, b hold the tombstone; c missed it
    evict(a, 'k', durable);
    await replay(x.hints, x.handles);
    z.handles.get('b')!.up = false;
    const r = await z.coordinator.get('k');
    expect([r.found, r.value.toString()]).toEqual([false, '']);
  });
});

describe('late writes into an evicted slot are not served as current', () => {
  /** Member a held v3 of k (v2 was written before it), then evicted it. */
  function evictedAfterV3(lostFloors: boolean) {
    const clock: Clock = { t: 1000 };
    const durable = new FakeDurable(clock);
    const a = member('a', clock, lostFloors ? 16 * 1024 : 1 << 20);
    const v2 = durable.nextVersion();
    const v3 = durable.nextVersion();
    a.store.apply('k', buf('v3'), v3, false, 0);
    evict(a, 'k', durable);
    if (lostFloors) churn(a, durable, 2000);
    return { clock, durable, a, v2 };
  }

  for (const lostFloors of [false, true]) {
    const how = lostFloors ? 'floor dropped' : 'floor kept';
    it(`a late replication frame (${how})`, () => {
      const { a, v2 } = evictedAfterV3(lostFloors);
      a.replica.write(
        7,
        {
          id: 7,
          kind: PeerOpKind.PEER_OP_KIND_WRITE,
          key: 'k',
          value: buf('v2'),
          version: v2,
          tombstone: false,
          ttlMs: 0,
          incarnation: a.replica.incarnation,
          cause: WriteCause.WRITE_CAUSE_WRITE,
        },
        a.replica.incarnation,
      );
      expect(servedAsCurrent(a.replica.read(1, 'k'))).toBe(false);
    });

    it(`a handoff stream row from a draining member (${how})`, async () => {
      const { clock, a, v2 } = evictedAfterV3(lostFloors);
      const d = member('d', clock);
      d.store.apply('k', buf('v2'), v2, false, 0); // d is stale and leaves
      const handle = new ScriptedHandle('a', a.replica);
      const ring = new Ring(['a', 'd']);
      const handoff = new Handoff({
        store: d.store,
        self: 'd',
        n: 3,
        view: new RingView('d', 3, ring),
        handleOf: (m) => (m === 'a' ? handle : undefined),
        hints: new Hints({ maxBytes: 1 << 20, maxAgeMs: 60_000 }),
        replayHints: () => Promise.resolve(),
        log: quietLog,
        metrics: new NodeMetrics(),
      });
      const r = await handoff.drain(ring, ['d']);
      expect([r.streamed, handle.writes.map((w) => w.version)]).toEqual([1, [v2]]);
      expect(servedAsCurrent(a.replica.read(1, 'k'))).toBe(false);
    });

    it(`an anti-entropy row read before the newer write (${how})`, async () => {
      const { durable, a, v2 } = evictedAfterV3(lostFloors);
      const row = { key: 'k', value: buf('v2'), version: v2, tombstone: false, ttlMs: 0 };
      await antiEntropyRound(a, antiEntropySource(durable, { rows: [row] }));
      expect(servedAsCurrent(a.replica.read(1, 'k'))).toBe(false);
    });
  }
});

describe('TTL: an expired newest version is never served, and overwrites converge', () => {
  it("answers not found when PostgreSQL's newest version expired and a late replica still holds that version", async () => {
    const { clock, c, x, z } = cluster();
    x.handles.get('c')!.failWrites = true;
    const v = await x.coordinator.set('k', buf('short'), 1000); // a and b hold it
    // The replication frame to c arrives 900 ms late: its TTL counts from receipt.
    clock.t += 900;
    c.replica.write(
      0,
      { key: 'k', value: buf('short'), version: v, tombstone: false, ttlMs: 1000 },
      c.replica.incarnation,
    );
    clock.t += 200; // PostgreSQL's row (and a's, b's copies) expired; c's has 800 ms left
    z.handles.get('b')!.up = false; // read set {a, c}
    const r = await z.coordinator.get('k');
    expect([r.found, r.version]).toEqual([false, 0]);
  });

  /** c holds v1 (no TTL); v2 with a TTL reached a and b only; then v2 expired. */
  async function missedTtlOverwrite() {
    const t = cluster();
    await t.x.coordinator.set('k', buf('old'), 0);
    t.y.handles.get('c')!.failWrites = true;
    const v2 = await t.y.coordinator.set('k', buf('new'), 1000);
    t.y.handles.get('c')!.failWrites = false;
    t.clock.t += 2000;
    return { ...t, v2 };
  }

  const holdsNothingOrNewest = (m: Member, newest: number): boolean => {
    const r = m.replica.read(0, 'k');
    return !r.found || r.version === newest;
  };

  it('read repair makes the replica that missed the overwrite drop its older value', async () => {
    const { c, z, v2 } = await missedTtlOverwrite();
    z.handles.get('b')!.up = false;
    const r = await z.coordinator.get('k');
    expect(r.found).toBe(false);
    expect(holdsNothingOrNewest(c, v2)).toBe(true);
    // ...and keeps the expired version as a floor: the older value cannot come back.
    c.replica.write(
      0,
      { key: 'k', value: buf('old'), version: v2 - 1, tombstone: false, ttlMs: 0 },
      c.replica.incarnation,
    );
    expect(holdsNothingOrNewest(c, v2)).toBe(true);
  });

  it('anti-entropy makes the replica that missed the overwrite drop its older value', async () => {
    const { durable, c, v2 } = await missedTtlOverwrite();
    await antiEntropyRound(c, antiEntropySource(durable));
    expect(holdsNothingOrNewest(c, v2)).toBe(true);
  });

  it('anti-entropy fences a replica from an expired row in the change scan', async () => {
    const { durable, c, v2 } = await missedTtlOverwrite();
    await antiEntropyRound(c, antiEntropySource(durable, { expired: [{ key: 'k', version: v2 }] }));
    expect(holdsNothingOrNewest(c, v2)).toBe(true);
  });

  it('a hint whose TTL passed still fences the replica that missed the overwrite', async () => {
    const { c, y, v2 } = await missedTtlOverwrite();
    expect(y.hints.pending('c')).toBe(1);
    await replay(y.hints, y.handles);
    expect(holdsNothingOrNewest(c, v2)).toBe(true);
  });
});
