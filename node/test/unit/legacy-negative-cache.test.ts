import { describe, expect, it } from '@jest/globals';
import { NegativeCache } from '../../src/legacy/negative-cache.js';

describe('NegativeCache', () => {
  it('remembers a miss for ttlMs, then forgets it', () => {
    let t = 1000;
    const cache = new NegativeCache(500, 10, () => t);
    cache.add('a');
    expect(cache.has('a')).toBe(true);
    t += 499;
    expect(cache.has('a')).toBe(true);
    t += 1;
    expect(cache.has('a')).toBe(false);
    expect(cache.size).toBe(0); // an expired entry is dropped when seen
  });

  it('restarts the TTL when a key is added again', () => {
    let t = 0;
    const cache = new NegativeCache(100, 10, () => t);
    cache.add('a');
    t = 90;
    cache.add('a');
    t = 150;
    expect(cache.has('a')).toBe(true);
    t = 190;
    expect(cache.has('a')).toBe(false);
  });

  it('stays within maxEntries by dropping the oldest entries', () => {
    let t = 0;
    const cache = new NegativeCache(10_000, 3, () => t);
    for (const k of ['a', 'b', 'c', 'd', 'e']) {
      cache.add(k);
      t++;
    }
    expect(cache.size).toBe(3);
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => cache.has(k))).toEqual([false, false, true, true, true]);
  });

  it('drops expired entries when adding, so dead keys do not crowd out live ones', () => {
    let t = 0;
    const cache = new NegativeCache(10, 1000, () => t);
    for (let i = 0; i < 500; i++) cache.add(`old${i}`);
    t = 10;
    cache.add('new');
    expect(cache.size).toBe(1);
  });

  it('is off with a TTL of 0 or a bound of 0', () => {
    const off = new NegativeCache(0, 10);
    off.add('a');
    expect(off.has('a')).toBe(false);
    const noRoom = new NegativeCache(1000, 0);
    noRoom.add('a');
    expect(noRoom.has('a')).toBe(false);
  });

  it('forgets a key on delete', () => {
    const cache = new NegativeCache(1000, 10);
    cache.add('a');
    cache.delete('a');
    expect(cache.has('a')).toBe(false);
  });
});
