import { describe, expect, it } from '@jest/globals';
import { negativeCache, type NegativeCache } from '../../src/legacy/negative-cache.js';

/** The cache, which these settings turn on. */
function on(cache: NegativeCache | undefined): NegativeCache {
  if (cache === undefined) throw new Error('expected the negative cache to be on');
  return cache;
}

describe('negativeCache (lru-cache)', () => {
  it('remembers a miss for ttlMs, then forgets it', () => {
    let t = 1000;
    const cache = on(negativeCache(500, 10, () => t));
    cache.set('a', true);
    expect(cache.has('a')).toBe(true);
    t += 500; // still counts at exactly ttlMs
    expect(cache.has('a')).toBe(true);
    t += 1;
    expect(cache.has('a')).toBe(false);
  });

  it('restarts the TTL when a key is added again', () => {
    let t = 1000;
    const cache = on(negativeCache(100, 10, () => t));
    cache.set('a', true);
    t = 1090;
    cache.set('a', true);
    t = 1150;
    expect(cache.has('a')).toBe(true);
    t = 1191;
    expect(cache.has('a')).toBe(false);
  });

  it('stays within maxEntries by dropping the oldest entries', () => {
    let t = 0;
    const cache = on(negativeCache(10_000, 3, () => t));
    for (const k of ['a', 'b', 'c', 'd', 'e']) {
      cache.set(k, true);
      t++;
    }
    expect(cache.size).toBe(3);
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => cache.has(k))).toEqual([false, false, true, true, true]);
  });

  it('drops the oldest, expired first, when full: dead keys do not crowd out live ones', () => {
    let t = 1000;
    const cache = on(negativeCache(10, 3, () => t));
    for (const k of ['old1', 'old2', 'old3']) cache.set(k, true);
    t = 1011;
    cache.set('new1', true);
    cache.set('new2', true);
    expect(cache.size).toBe(3);
    expect(['new1', 'new2'].map((k) => cache.has(k))).toEqual([true, true]);
  });

  it('is off with a TTL of 0 or a bound of 0', () => {
    expect(negativeCache(0, 10)).toBeUndefined();
    expect(negativeCache(1000, 0)).toBeUndefined();
  });

  it('takes a fractional TTL as the next whole millisecond', () => {
    let t = 1000;
    const cache = on(negativeCache(1.5, 10, () => t));
    cache.set('a', true);
    t = 1002;
    expect(cache.has('a')).toBe(true);
    t = 1003;
    expect(cache.has('a')).toBe(false);
  });

  it('rejects nonsense settings', () => {
    expect(() => negativeCache(-1, 10)).toThrow(RangeError);
    expect(() => negativeCache(Number.NaN, 10)).toThrow(RangeError);
    expect(() => negativeCache(1000, 1.5)).toThrow(RangeError);
  });
});
