import { describe, expect, it } from '@jest/globals';
import { SingleFlight } from '../../src/util/singleflight.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('runs one call for concurrent callers of a key and gives all of them its value', async () => {
    const sf = new SingleFlight<string, number>();
    const d = deferred<number>();
    let calls = 0;
    const fn = (): Promise<number> => {
      calls++;
      return d.promise;
    };
    const callers = Array.from({ length: 100 }, () => sf.do('k', fn));
    expect(calls).toBe(1);
    expect(sf.inFlight('k')).toBe(true);
    d.resolve(42);
    expect(await Promise.all(callers)).toEqual(Array(100).fill(42));
    expect(sf.inFlight('k')).toBe(false);
    expect(sf.size).toBe(0);
  });

  it('keeps keys apart and passes the key to fn', async () => {
    const sf = new SingleFlight<number, string>();
    const seen: number[] = [];
    const fn = async (k: number): Promise<string> => {
      seen.push(k);
      return `v${k}`;
    };
    const [a, b, a2] = await Promise.all([sf.do(1, fn), sf.do(2, fn), sf.do(1, fn)]);
    expect([a, b, a2]).toEqual(['v1', 'v2', 'v1']);
    expect(seen).toEqual([1, 2]);
  });

  it('delivers a rejection to every caller of the flight', async () => {
    const sf = new SingleFlight<string, number>();
    const d = deferred<number>();
    const callers = Array.from({ length: 10 }, () => sf.do('k', () => d.promise));
    const boom = new Error('boom');
    d.reject(boom);
    const results = await Promise.allSettled(callers);
    expect(results.every((r) => r.status === 'rejected' && r.reason === boom)).toBe(true);
    expect(sf.inFlight('k')).toBe(false);
  });

  it('treats a synchronous throw as a rejection and leaves nothing in flight', async () => {
    const sf = new SingleFlight<string, number>();
    await expect(
      sf.do('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(sf.inFlight('k')).toBe(false);
  });

  it('runs again for a call made after the flight settled, including from the failed callers', async () => {
    const sf = new SingleFlight<string, number>();
    let calls = 0;
    const failing = async (): Promise<number> => {
      calls++;
      throw new Error(`fail ${calls}`);
    };
    // A caller that retries as soon as it sees the failure starts a new
    // flight rather than rejoining the failed one.
    const retried = sf.do('k', failing).catch(() => sf.do('k', async () => 7));
    expect(await retried).toBe(7);
    expect(calls).toBe(1);
    expect(await sf.do('k', async () => 8)).toBe(8);
  });
});
