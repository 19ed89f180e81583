import { describe, expect, it } from '@jest/globals';
import { QuorumCounter, highestVersion, holdersOf, type VersionedAnswer } from '../../src/cluster/quorum.js';

/** A counter that records which way it settled, and how often. */
function counter(need: number, total: number) {
  const events: string[] = [];
  const q = new QuorumCounter(
    need,
    total,
    () => events.push('reached'),
    () => events.push('impossible'),
  );
  return { q, events };
}

describe('QuorumCounter', () => {
  it('resolves exactly when the need-th success arrives, not before', () => {
    const { q, events } = counter(2, 3);
    q.start();
    expect(events).toEqual([]);
    q.success();
    expect(events).toEqual([]);
    expect(q.done).toBe(false);
    q.success();
    expect(events).toEqual(['reached']);
    expect(q.done).toBe(true);
  });

  it('still resolves after a failure when the remaining attempts can reach the quorum', () => {
    const { q, events } = counter(2, 3);
    q.start();
    q.failure();
    q.success();
    expect(events).toEqual([]);
    q.success();
    expect(events).toEqual(['reached']);
  });

  it('rejects as soon as the failures make the quorum impossible, without waiting for the rest', () => {
    const { q, events } = counter(2, 3);
    q.start();
    q.failure();
    expect(events).toEqual([]);
    q.failure();
    // One attempt is still out, but 1 < 2: no point waiting for it.
    expect(events).toEqual(['impossible']);
    expect(q.done).toBe(true);
  });

  it('rejects on the first failure when every attempt is needed', () => {
    const { q, events } = counter(3, 3);
    q.start();
    q.success();
    q.success();
    q.failure();
    expect(events).toEqual(['impossible']);
  });

  it('settles once: late answers after either outcome change nothing', () => {
    const a = counter(1, 3);
    a.q.start();
    a.q.success();
    a.q.failure();
    a.q.failure();
    a.q.success();
    expect(a.events).toEqual(['reached']);

    const b = counter(3, 3);
    b.q.start();
    b.q.failure();
    b.q.success();
    b.q.success();
    b.q.success();
    expect(b.events).toEqual(['impossible']);
  });

  it('resolves at start when nothing is needed', () => {
    const { q, events } = counter(0, 3);
    expect(events).toEqual([]);
    q.start();
    expect(events).toEqual(['reached']);
    q.failure();
    expect(events).toEqual(['reached']);
  });

  it('resolves at start with need 0 even with no attempts at all', () => {
    const { q, events } = counter(0, 0);
    q.start();
    expect(events).toEqual(['reached']);
  });

  it('rejects at start when there are fewer attempts than needed', () => {
    const { q, events } = counter(2, 1);
    q.start();
    expect(events).toEqual(['impossible']);
  });

  it('counts the answers it was given', () => {
    const { q } = counter(3, 5);
    q.start();
    q.success();
    q.failure();
    q.success();
    expect([q.ok, q.failed]).toEqual([2, 1]);
  });
});

describe('highestVersion', () => {
  const miss: VersionedAnswer = { found: false, version: 0 };

  it('is -1 when no answer holds the key', () => {
    expect(highestVersion([])).toBe(-1);
    expect(highestVersion([miss, miss])).toBe(-1);
  });

  it('picks the answer with the highest version wherever it is', () => {
    expect(
      highestVersion([
        { found: true, version: 3 },
        { found: true, version: 7 },
        { found: true, version: 5 },
      ]),
    ).toBe(1);
    expect(highestVersion([miss, { found: true, version: 2 }])).toBe(1);
    expect(highestVersion([{ found: true, version: 9 }, miss])).toBe(0);
  });

  it('ignores the version number of a miss', () => {
    // A miss carries no value: its version field must never win.
    expect(
      highestVersion([
        { found: false, version: 100 },
        { found: true, version: 1 },
      ]),
    ).toBe(1);
  });

  it('keeps the first of equal highest versions', () => {
    expect(
      highestVersion([
        { found: true, version: 4 },
        { found: true, version: 4 },
      ]),
    ).toBe(0);
  });
});

describe('holdersOf', () => {
  it('counts the answers that hold exactly that version', () => {
    const answers: VersionedAnswer[] = [
      { found: true, version: 4 },
      { found: true, version: 3 },
      { found: true, version: 4 },
      { found: false, version: 4 },
    ];
    expect(holdersOf(answers, 4)).toBe(2);
    expect(holdersOf(answers, 3)).toBe(1);
    expect(holdersOf(answers, 5)).toBe(0);
    expect(holdersOf([], 1)).toBe(0);
  });
});
