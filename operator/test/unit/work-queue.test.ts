import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../src/clock.js';
import {
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  TokenBucketRateLimiter,
  defaultControllerRateLimiter,
} from '../../src/queue/rate-limiter.js';
import { WorkQueue } from '../../src/queue/work-queue.js';

function newQueue(clock = new FakeClock()): { q: WorkQueue; clock: FakeClock } {
  return { q: new WorkQueue(clock, defaultControllerRateLimiter(clock)), clock };
}

/** get() that must not block: the key is expected to be ready now. */
async function take(q: WorkQueue): Promise<string | undefined> {
  const marker = Symbol('blocked');
  const r = await Promise.race([q.get(), new Promise<symbol>((res) => setImmediate(() => res(marker)))]);
  if (r === marker) throw new Error('get() blocked: no key was ready');
  return r as string | undefined;
}

describe('WorkQueue', () => {
  it('merges repeated adds of a key into one item', async () => {
    const { q } = newQueue();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.len()).toBe(2);
    expect(await take(q)).toBe('ns/a');
    expect(await take(q)).toBe('ns/b');
    expect(q.len()).toBe(0);
  });

  it('never hands a key to two workers at once, and re-queues it when added during processing', async () => {
    const { q } = newQueue();
    q.add('ns/a');
    const first = await take(q);
    expect(first).toBe('ns/a');
    // An event arrives while a worker reconciles ns/a.
    q.add('ns/a');
    q.add('ns/a');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await new Promise((r) => setImmediate(r));
    expect(second).toBeUndefined();
    q.done('ns/a');
    await new Promise((r) => setImmediate(r));
    expect(second).toBe('ns/a');
    q.done('ns/a');
    expect(q.len()).toBe(0);
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const { q } = newQueue();
    const got = q.get();
    q.add('ns/x');
    expect(await got).toBe('ns/x');
  });

  it('delays a key with addAfter and keeps the earliest of two requests', async () => {
    const { q, clock } = newQueue();
    q.addAfter('ns/a', 10_000);
    q.addAfter('ns/a', 3_000);
    q.addAfter('ns/a', 20_000);
    expect(q.len()).toBe(0);
    await clock.advance(2_999);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await take(q)).toBe('ns/a');
    q.done('ns/a');
    // The later requests were merged into the earliest: nothing else fires.
    await clock.advance(60_000);
    expect(q.len()).toBe(0);
  });

  it('backs a failing key off exponentially and forgets the backoff after a success', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, new ItemExponentialRateLimiter(100, 1_000));
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const start = clock.now();
      q.addRateLimited('ns/a');
      // Bounded wait: advance in 10ms steps up to the cap.
      for (let t = 0; t < 200 && q.len() === 0; t++) await clock.advance(10);
      delays.push(clock.now() - start);
      expect(await take(q)).toBe('ns/a');
      q.done('ns/a');
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.numRequeues('ns/a')).toBe(6);
    q.forget('ns/a');
    expect(q.numRequeues('ns/a')).toBe(0);
    const start = clock.now();
    q.addRateLimited('ns/a');
    for (let t = 0; t < 200 && q.len() === 0; t++) await clock.advance(10);
    expect(clock.now() - start).toBe(100);
  });

  it('keeps per-key backoffs independent', () => {
    const rl = new ItemExponentialRateLimiter(100, 10_000);
    expect([rl.when('a'), rl.when('a'), rl.when('a')]).toEqual([100, 200, 400]);
    expect(rl.when('b')).toBe(100);
  });

  it('limits retries across all keys with a token bucket', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucketRateLimiter(clock, 10, 3);
    // The burst passes at once, then each retry reserves the next token (100ms apart at 10/s).
    expect([bucket.when('a'), bucket.when('b'), bucket.when('c')]).toEqual([0, 0, 0]);
    expect(bucket.when('d')).toBe(100);
    expect(bucket.when('e')).toBe(200);
    const combined = new MaxOfRateLimiter(new ItemExponentialRateLimiter(5, 1000), bucket);
    expect(combined.when('f')).toBe(300);
  });

  it('returns undefined to every waiting worker on shutdown and drops delayed keys', async () => {
    const { q, clock } = newQueue();
    const a = q.get();
    const b = q.get();
    q.addAfter('ns/later', 1000);
    q.shutDown();
    expect(await a).toBeUndefined();
    expect(await b).toBeUndefined();
    await clock.advance(5000);
    expect(q.len()).toBe(0);
    q.add('ns/after-shutdown');
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('drained() resolves once the in-flight key is done', async () => {
    const { q } = newQueue();
    q.add('ns/a');
    await take(q);
    q.shutDown();
    let drained = false;
    void q.drained().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    q.done('ns/a');
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(true);
  });

  it('reports depth, adds and queue latency to its observer', async () => {
    const clock = new FakeClock();
    const depths: number[] = [];
    const latencies: number[] = [];
    let adds = 0;
    const q = new WorkQueue(clock, defaultControllerRateLimiter(clock), {
      depth: (n) => depths.push(n),
      added: () => adds++,
      queueLatency: (s) => latencies.push(s),
    });
    q.add('ns/a');
    q.add('ns/b');
    await clock.advance(1500);
    await take(q);
    expect(adds).toBe(2);
    expect(depths).toEqual([1, 2, 1]);
    expect(latencies).toEqual([1.5]);
  });
});
