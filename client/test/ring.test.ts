import { describe, expect, it } from '@jest/globals';
import type { Hash64 } from '../src/ring/hash.js';
import { DEFAULT_VNODES, Ring } from '../src/ring/ring.js';

const names = (n: number, prefix = 'kvc'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const SAMPLE = Array.from({ length: 100_000 }, (_, i) => `key-${i}`);

// A hand-checkable hash: positions in sixteenths of the ring. Token names
// ("<member>#<i>") come from a table; a key "@x" sits at x sixteenths.
function sixteenths(table: Record<string, number>): Hash64 {
  return (s, out) => {
    const x = s.startsWith('@') ? Number(s.slice(1)) : table[s];
    if (x === undefined) throw new Error(`test hash: no position for ${s}`);
    out[0] = Math.floor(x * 2 ** 28);
    out[1] = 0;
  };
}

//  position (1/16):  1    2    3    8    9    10
//  token:            a#0  b#0  c#0  a#1  b#1  c#1
const handHash = sixteenths({ 'a#0': 1, 'b#0': 2, 'c#0': 3, 'a#1': 8, 'b#1': 9, 'c#1': 10 });

describe('Ring with an injected hash', () => {
  const ring = new Ring(['c', 'a', 'b'], { vnodes: 2, hash: handHash });

  it.each([
    ['@0', ['a', 'b', 'c']], // before the first token: a#0 at 1
    ['@1', ['a', 'b', 'c']], // exactly on a token: that token owns the key
    ['@1.5', ['b', 'c', 'a']],
    ['@2.5', ['c', 'a', 'b']],
    ['@5', ['a', 'b', 'c']], // next token is a#1 at 8
    ['@9.5', ['c', 'a', 'b']],
    ['@12', ['a', 'b', 'c']], // past the last token: wraps to a#0
  ])('places %s with preference list %j', (key, expected) => {
    expect(ring.primary(key)).toBe(expected[0]);
    expect(ring.preferenceList(key, 3)).toEqual(expected);
    expect(ring.preferenceList(key, 2)).toEqual(expected.slice(0, 2));
  });

  it('gives each member the arcs ending at its tokens', () => {
    // a: (10, 16) + [0, 1] = 7, plus (3, 8] = 5  -> 12/16
    // b: (1, 2] + (8, 9] = 2/16;  c: (2, 3] + (9, 10] = 2/16
    const own = ring.ownership();
    expect(own.get('a')).toBeCloseTo(12 / 16, 12);
    expect(own.get('b')).toBeCloseTo(2 / 16, 12);
    expect(own.get('c')).toBeCloseTo(2 / 16, 12);
  });

  it('orders tokens by the low 32 bits when the high halves are equal', () => {
    const byLow: Hash64 = (s, out) => {
      out[0] = 7;
      out[1] = (
        { 'x#0': 0x10, 'y#0': 0xfffffff0, '@mid': 0x20, '@top': 0xfffffff1 } as Record<string, number>
      )[s] as number;
    };
    const r = new Ring(['y', 'x'], { vnodes: 1, hash: byLow });
    expect(r.primary('@mid')).toBe('y');
    expect(r.primary('@top')).toBe('x'); // past y's token: wraps
    // Arcs: y owns (0x7_00000010, 0x7_fffffff0], x the rest.
    expect(r.ownership().get('y')).toBeCloseTo((0xfffffff0 - 0x10) / 2 ** 64, 20);
  });

  it('breaks a tie between equal token positions by member name, on every node', () => {
    const same: Hash64 = (s, out) => {
      out[0] = s.startsWith('@') ? 0 : 5;
      out[1] = 0;
    };
    expect(new Ring(['q', 'p'], { vnodes: 1, hash: same }).preferenceList('@k', 2)).toEqual(['p', 'q']);
    expect(new Ring(['p', 'q'], { vnodes: 1, hash: same }).preferenceList('@k', 2)).toEqual(['p', 'q']);
  });
});

describe('Ring with the default hash', () => {
  it(`keeps every member within 15% of a fair share for 3..10 members (default ${DEFAULT_VNODES} vnodes)`, () => {
    const offenders: string[] = [];
    for (const prefix of ['kvc', 'cache', 'prod-kvring']) {
      for (let n = 3; n <= 10; n++) {
        const own = new Ring(names(n, prefix)).ownership();
        let sum = 0;
        for (const [m, share] of own) {
          sum += share;
          if (Math.abs(share * n - 1) > 0.15) offenders.push(`${m} of ${n}: ${(share * n).toFixed(3)}x fair`);
        }
        expect(sum).toBeCloseTo(1, 9);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('routes sampled keys in proportion to ownership', () => {
    const ring = new Ring(names(5));
    const counts = new Map<string, number>();
    for (const k of SAMPLE) counts.set(ring.primary(k), (counts.get(ring.primary(k)) ?? 0) + 1);
    for (const [m, share] of ring.ownership()) {
      expect(Math.abs((counts.get(m) ?? 0) / SAMPLE.length - share)).toBeLessThan(0.01);
    }
  });

  it.each([3, 4, 5, 6, 7, 8, 9])(
    'adding a member to %i moves ~1/(n+1) of keys, all to the new member',
    (n) => {
      const before = new Ring(names(n));
      const added = `kvc-${n}`;
      const after = before.withMember(added);
      let moved = 0;
      let movedElsewhere = 0;
      for (const k of SAMPLE) {
        const p = after.primary(k);
        if (p !== before.primary(k)) {
          moved++;
          if (p !== added) movedElsewhere++;
        }
      }
      const fraction = moved / SAMPLE.length;
      expect(movedElsewhere).toBe(0);
      expect(Math.abs(fraction - 1 / (n + 1))).toBeLessThanOrEqual(0.15 / (n + 1));
      expect(Math.abs(fraction - (after.ownership().get(added) ?? 0))).toBeLessThan(0.01);
    },
  );

  it.each([3, 6])('adding a member to %i only inserts it into preference lists', (n) => {
    const before = new Ring(names(n));
    const added = `kvc-${n}`;
    const after = before.withMember(added);
    let broken = 0;
    let gained = 0;
    for (const k of SAMPLE) {
      const old = before.preferenceList(k, 3);
      const now = after.preferenceList(k, 3);
      const kept = now.filter((m) => m !== added);
      if (kept.length !== now.length) gained++;
      // Without the new member, the new list is the old one (minus its tail).
      if (kept.some((m, i) => m !== old[i])) broken++;
    }
    expect(broken).toBe(0);
    // The new member joins the lists of about 3/(n+1) of the keys.
    expect(Math.abs(gained / SAMPLE.length - 3 / (n + 1))).toBeLessThan(0.15 * (3 / (n + 1)));
  });

  it('removing a member moves only its own keys', () => {
    const before = new Ring(names(6));
    const after = before.withoutMember('kvc-2');
    let wrong = 0;
    for (const k of SAMPLE.slice(0, 20_000)) {
      const was = before.primary(k);
      if (was !== 'kvc-2' && after.primary(k) !== was) wrong++;
      if (after.primary(k) === 'kvc-2') wrong++;
    }
    expect(wrong).toBe(0);
    expect(after.has('kvc-2')).toBe(false);
    expect(after.size).toBe(5);
  });

  it('gives n distinct members, capped at the member count', () => {
    const ring = new Ring(names(4));
    for (const k of SAMPLE.slice(0, 2000)) {
      const list = ring.preferenceList(k, 3);
      expect(new Set(list).size).toBe(3);
      expect(list[0]).toBe(ring.primary(k));
      expect(ring.preferenceList(k, 10).length).toBe(4);
    }
    expect(ring.preferenceList('k', 0)).toEqual([]);
  });

  it('fills a reused array with preferenceInto and answers isReplica consistently', () => {
    const ring = new Ring(names(5));
    const out: string[] = [];
    for (const k of SAMPLE.slice(0, 2000)) {
      const count = ring.preferenceInto(k, 3, out);
      const list = ring.preferenceList(k, 3);
      expect(count).toBe(3);
      expect(out.slice(0, count)).toEqual(list);
      for (const m of ring.members) expect(ring.isReplica(k, m, 3)).toBe(list.includes(m));
    }
    expect(ring.isReplica('k', 'not-a-member', 3)).toBe(false);
    expect(ring.preferenceInto('k', 99, out)).toBe(5);
  });

  it('is deterministic across instances, member order and duplicates', () => {
    const a = new Ring(['kvc-2', 'kvc-0', 'kvc-1']);
    const b = new Ring(['kvc-1', 'kvc-2', 'kvc-0', 'kvc-1']);
    expect(a.members).toEqual(['kvc-0', 'kvc-1', 'kvc-2']);
    expect(b.members).toEqual(a.members);
    expect(b.ringHash).toBe(a.ringHash);
    expect(b.equals(a)).toBe(true);
    for (const k of SAMPLE.slice(0, 5000)) {
      expect(b.preferenceList(k, 3)).toEqual(a.preferenceList(k, 3));
    }
  });

  it('keeps placements and ringHash stable across releases', () => {
    // Every node of a cluster, and every client, must place keys alike while
    // a rolling upgrade mixes versions. A change here is a data reshuffle:
    // make it on purpose, never by accident.
    const ring = new Ring(names(3));
    expect(ring.ringHash).toBe('ee4b7bdc77cc070d');
    expect(ring.preferenceList('user:42', 3)).toEqual(['kvc-1', 'kvc-0', 'kvc-2']);
    expect(ring.preferenceList('session/abc', 3)).toEqual(['kvc-0', 'kvc-1', 'kvc-2']);
  });

  it('changes ringHash with membership or vnodes, and not otherwise', () => {
    const base = new Ring(names(3));
    expect(new Ring(names(3)).ringHash).toBe(base.ringHash);
    expect(base.withMember('kvc-3').ringHash).not.toBe(base.ringHash);
    expect(new Ring(names(3), { vnodes: 256 }).ringHash).not.toBe(base.ringHash);
    // Names are length-prefixed: ["ab","c"] and ["a","bc"] must differ.
    expect(new Ring(['ab', 'c']).ringHash).not.toBe(new Ring(['a', 'bc']).ringHash);
    expect(base.ringHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('handles a single member', () => {
    const ring = new Ring(['only']);
    expect(ring.primary('anything')).toBe('only');
    expect(ring.preferenceList('anything', 3)).toEqual(['only']);
    expect(ring.ownership().get('only')).toBeCloseTo(1, 12);
    expect(ring.size).toBe(1);
    expect(ring.tokenCount).toBe(DEFAULT_VNODES);
  });

  it('refuses an empty ring, empty names and bad vnodes with clear errors', () => {
    expect(() => new Ring([])).toThrow(/no members/);
    expect(() => new Ring(['kvc-0']).withoutMember('kvc-0')).toThrow(/no members/);
    expect(() => new Ring(['kvc-0', ''])).toThrow(/non-empty strings/);
    expect(() => new Ring(['kvc-0'], { vnodes: 0 })).toThrow(/vnodes must be an integer/);
    expect(() => new Ring(['kvc-0'], { vnodes: 1.5 })).toThrow(/vnodes must be an integer/);
  });

  it('uses the configured vnodes', () => {
    const ring = new Ring(names(4), { vnodes: 128 });
    expect(ring.vnodes).toBe(128);
    expect(ring.tokenCount).toBe(4 * 128);
    expect(ring.withMember('kvc-9').vnodes).toBe(128);
    expect(ring.has('kvc-3')).toBe(true);
  });
});
