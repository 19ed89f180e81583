// Ring transitions and drains, on an in-process cluster whose every step the
// test drives (support/ring-sim.ts): replicas, handoff, hints and
// coordinators are the node's own classes; only the network and PostgreSQL
// are scripted.
import { describe, expect, it } from '@jest/globals';
import { WriteCause } from '../../src/gen/kvring/v1/peer.js';
import { RingSim } from './support/ring-sim.js';

const OLD = ['a', 'b', 'c'];
const GROWN = ['a', 'b', 'c', 'd'];
const v = (s: string): Buffer => Buffer.from(s);

/** Resolves with the acknowledged version, or undefined when the write failed (in doubt). */
async function tryWrite(p: Promise<number>): Promise<number | undefined> {
  return p.then(
    (version) => version,
    () => undefined,
  );
}

describe('a write or stream made under one ring view cannot make a read quorum of the next view stale', () => {
  it('an old-view write after the old owner streamed and dropped the key is seen by a read on the new view', async () => {
    const sim = new RingSim(GROWN);
    // [a,b,c] -> [d,a,b]: c loses the key, d gains it, a and b keep it.
    const key = sim.findKey(OLD, GROWN, (_before, after) => after[0] === 'd' && !after.includes('c'));
    const [a, b, c] = OLD.map((m) => sim.add(m, OLD));
    const v1 = await b!.coordinator.set(key, v('v1'), 0);
    const d = sim.add('d', GROWN);
    sim.discovered = GROWN;
    await a!.adopt(GROWN);
    await c!.adopt(GROWN); // streams v1 to d, then drops the key
    expect([c!.version(key), d.version(key)]).toEqual([0, v1]);

    // b is still on the old view and does not reach a: v2 can only be
    // acknowledged with c, which no longer owns the key.
    b!.downs.add('a');
    const v2 = await tryWrite(b!.coordinator.set(key, v('v2'), 0));
    // b re-sends to the new owners once it sees the new view, so the write is acknowledged.
    expect(v2).toBe(v1 + 1);

    // d's read set is {d, a}.
    const read = await d.coordinator.get(key);
    expect({ version: read.version, value: read.value.toString() }).toEqual({ version: v2, value: 'v2' });
  });

  it('a replica refuses a write for a key it does not own in its view, so an old-view coordinator cannot count it', async () => {
    const sim = new RingSim(GROWN);
    const key = sim.findKey(OLD, GROWN, (_before, after) => after[0] === 'd' && !after.includes('c'));
    const [, b, c] = OLD.map((m) => sim.add(m, OLD));
    sim.add('d', GROWN);
    await b!.coordinator.set(key, v('v1'), 0);
    await c!.adopt(GROWN);
    sim.answered.length = 0;
    // b never learns the new view: the write cannot reach W and fails as in doubt.
    b!.downs.add('a');
    expect(await tryWrite(b!.coordinator.set(key, v('v2'), 0))).toBeUndefined();
    expect(sim.answered.filter((r) => r.member === 'c').map((r) => r.ok)).toEqual([false]);
    // and c kept no copy it would not hand over.
    expect(c!.version(key)).toBe(0);
  });
});

describe('a leaving node stops counting toward W before its final stream; no acknowledged write is lost across a drain', () => {
  const REST = ['a', 'b', 'c'];
  const ALL = ['a', 'b', 'c', 'l'];

  it('writes acknowledged during a drain are readable on any read quorum of the remaining members', async () => {
    const sim = new RingSim(ALL);
    const key = sim.findKey(ALL, REST, (before) => before.includes('l'));
    const members = ALL.map((m) => sim.add(m, ALL));
    sim.discovered = ALL; // DNS lists the leaving pod until the StatefulSet shrinks
    const l = sim.member('l');
    const before = sim.ring(ALL).preferenceList(key, 3);
    const coord = members.find((m) => !before.includes(m.name))!; // coordinates, holds no copy
    const [x, y] = before.filter((m) => m !== 'l');
    await coord.coordinator.set(key, v('v1'), 0);

    const release = sim.holdStreams();
    const drained = l.handoff.drain(l.ring, ['l']);
    // The drain has begun (its stream waits at the gate); a write arrives
    // that does not reach y.
    await Promise.resolve();
    coord.downs.add(y!);
    const v2 = await tryWrite(coord.coordinator.set(key, v('v2'), 0));
    release();
    await drained;
    expect(v2).toBeDefined();
    const afterStream = sim.answered.filter(
      (r) => r.member === 'l' && r.cause === WriteCause.WRITE_CAUSE_WRITE && r.version === v2,
    );
    expect(afterStream.map((r) => r.ok)).not.toContain(true);

    // The pod is gone; every remaining member adopts the smaller ring.
    sim.gone.add('l');
    sim.discovered = REST;
    for (const m of REST) await sim.member(m).adopt(REST);
    // Any read quorum of the remaining members sees v2: a reader that does
    // not reach x reads from the two others.
    for (const reader of REST) {
      const r = sim.member(reader);
      r.downs.clear();
      r.downs.add(x!);
      const got = await r.coordinator.get(key);
      expect({ reader, version: got.version }).toEqual({ reader, version: v2 });
      r.downs.clear();
    }
  });

  it('hints held by the leaving node are replayed before its drain ends', async () => {
    const sim = new RingSim(ALL);
    ALL.forEach((m) => sim.add(m, ALL));
    sim.discovered = ALL;
    const l = sim.member('l');
    // l coordinates a write while one replica does not answer: a hint.
    const key = sim.findKey(ALL, REST, (before) => !before.includes('l'));
    const target = sim.ring(ALL).preferenceList(key, 3)[2]!;
    l.downs.add(target);
    const version = await l.coordinator.set(key, v('hinted'), 0);
    expect(l.hints.pending(target)).toBe(1);
    l.downs.delete(target); // back before l leaves
    await l.handoff.drain(l.ring, ['l']);
    expect(l.hints.total).toBe(0);
    expect(sim.member(target).version(key)).toBe(version);
  });
});
