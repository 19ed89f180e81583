// LegacyClient against the real demo legacy API, running as its own process.
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { LegacyClient, type LegacyClientOptions, type LegacyResult } from '../../src/legacy/client.js';
import { LegacyUnavailableError } from '../../src/legacy/errors.js';
import { NodeMetrics } from '../../src/metrics.js';
import { fakeDate } from '../support/fake-date.js';
import { startLegacyProcess, type LegacyProcess } from '../support/legacy.js';

const log = pino({ level: 'silent' });
let legacy: LegacyProcess;
const clients: LegacyClient[] = [];

/** A manual clock for the negative cache (the breaker's is Date: fakeDate). */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

function client(
  over: Partial<LegacyClientOptions> = {},
  deps: { now?: () => number; metrics?: NodeMetrics } = {},
): LegacyClient {
  const c = new LegacyClient(
    {
      url: legacy.url,
      pathTemplate: '/legacy/data/{key}',
      timeoutMs: 5_000,
      negativeTtlMs: 60_000,
      ...over,
    },
    { log, ...deps },
  );
  clients.push(c);
  return c;
}

function text(result: LegacyResult): string | undefined {
  return result.found ? result.value.toString('utf8') : undefined;
}

/** The rejection of `p`, which must be a LegacyUnavailableError. */
async function failure(p: Promise<unknown>): Promise<LegacyUnavailableError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LegacyUnavailableError) return err;
    throw err;
  }
  throw new Error('expected a LegacyUnavailableError, the call succeeded');
}

async function requestsFor(key: string): Promise<number> {
  return (await legacy.stats()).byKey[key] ?? 0;
}

async function counter(metrics: NodeMetrics, result: string): Promise<number> {
  const { values } = await metrics.legacyRequests.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

beforeAll(async () => {
  legacy = await startLegacyProcess({ keys: 1000 });
});

afterEach(async () => {
  jest.useRealTimers(); // after a test that faked Date (fakeDate)
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await legacy.setConfig({ latencyMs: 0, failureRate: 0, hang: false });
});

afterAll(async () => {
  await legacy?.stop();
});

describe('LegacyClient against the demo legacy API', () => {
  it('reads a seeded key as the bytes of its string value', async () => {
    const c = client();
    expect(text(await c.fetch('user:1'))).toBe('{"id":1,"name":"User 1","email":"user1@example.com"}');
    expect(text(await c.fetch('legacy:1000'))).toBe('legacy-value-1000');
    expect(c.reachable).toBe(true);
  });

  it('answers not found for a key the API lacks', async () => {
    const c = client();
    expect(await c.fetch('user:1001')).toEqual({ found: false });
    expect(await c.fetch('nobody-has-this')).toEqual({ found: false });
  });

  it('URL-encodes keys: spaces, slashes, reserved characters and unicode reach the API intact', async () => {
    const keys = ['with space', 'a/b/../c', 'q?x=1#frag&y=2', '100%', '+plus+', 'ключ-🔑', 'naïve\\back'];
    for (const key of keys) await legacy.addKey(key, `value of ${key}`);
    const c = client();
    for (const key of keys) {
      expect(text(await c.fetch(key))).toBe(`value of ${key}`);
      expect(await requestsFor(key)).toBe(1);
    }
    expect(await c.fetch('with space/absent 🔑')).toEqual({ found: false });
    expect(await requestsFor('with space/absent 🔑')).toBe(1);
  });

  it('stores a non-string value as its JSON text', async () => {
    await legacy.addKey('json:object', { a: 1, b: [true, null, 'x'] });
    await legacy.addKey('json:number', 42);
    const c = client();
    expect(text(await c.fetch('json:object'))).toBe('{"a":1,"b":[true,null,"x"]}');
    expect(text(await c.fetch('json:number'))).toBe('42');
  });

  it('makes exactly one HTTP request for 1,000 concurrent fetches of one key', async () => {
    await legacy.setConfig({ latencyMs: 50 });
    const c = client();
    const results = await Promise.all(Array.from({ length: 1000 }, () => c.fetch('user:7')));
    expect(new Set(results.map(text))).toEqual(
      new Set(['{"id":7,"name":"User 7","email":"user7@example.com"}']),
    );
    expect(await requestsFor('user:7')).toBe(1);
    // Found values are not cached by the client (the node stores them): a
    // fetch after the flight settled asks again.
    await c.fetch('user:7');
    expect(await requestsFor('user:7')).toBe(2);
  });

  it('coalesces concurrent misses and remembers a 404 for negativeTtlMs', async () => {
    const clock = manualClock();
    const c = client({ negativeTtlMs: 5_000 }, { now: clock.now });
    const burst = await Promise.all(Array.from({ length: 100 }, () => c.fetch('missing:1')));
    expect(burst.every((r) => !r.found)).toBe(true);
    for (let i = 0; i < 5; i++) expect(await c.fetch('missing:1')).toEqual({ found: false });
    expect(await requestsFor('missing:1')).toBe(1);
    clock.advance(5_000); // still remembered at exactly the TTL
    await c.fetch('missing:1');
    expect(await requestsFor('missing:1')).toBe(1);
    clock.advance(1);
    await c.fetch('missing:1');
    expect(await requestsFor('missing:1')).toBe(2);
  });

  it('asks the API every time when the negative cache is off', async () => {
    const c = client({ negativeTtlMs: 0 });
    for (let i = 0; i < 3; i++) await c.fetch('missing:2');
    expect(await requestsFor('missing:2')).toBe(3);
  });

  it('fails with LEGACY_HTTP_503, opens the breaker after the threshold, and recovers after openMs', async () => {
    const clock = fakeDate();
    const metrics = new NodeMetrics();
    const c = client({ breaker: { failureThreshold: 3, openMs: 10_000 } }, { metrics });
    await legacy.setConfig({ failureRate: 1 });
    for (let i = 0; i < 3; i++) {
      expect((await failure(c.fetch('user:11'))).failure).toBe('LEGACY_HTTP_503');
      expect(c.reachable).toBe(false);
    }
    expect(c.breakerState).toBe('open');
    expect((await metrics.legacyBreakerState.get()).values[0]?.value).toBe(2);

    // Open: rejected without a request, for any key.
    expect((await failure(c.fetch('user:11'))).failure).toBe('LEGACY_BREAKER_OPEN');
    expect((await failure(c.fetch('user:12'))).failure).toBe('LEGACY_BREAKER_OPEN');
    expect(await requestsFor('user:11')).toBe(3);
    expect(await requestsFor('user:12')).toBe(0);

    await legacy.setConfig({ failureRate: 0 });
    clock.advance(9_999);
    expect((await failure(c.fetch('user:11'))).failure).toBe('LEGACY_BREAKER_OPEN');
    clock.advance(1);
    expect(text(await c.fetch('user:11'))).toBe('{"id":11,"name":"User 11","email":"user11@example.com"}');
    expect(c.breakerState).toBe('closed');
    expect(c.reachable).toBe(true);
    expect(await requestsFor('user:11')).toBe(4);
    expect([
      await counter(metrics, 'error'),
      await counter(metrics, 'rejected'),
      await counter(metrics, 'found'),
    ]).toEqual([3, 3, 1]);
    expect((await metrics.legacyBreakerState.get()).values[0]?.value).toBe(0);
  });

  it('lets one trial through when half-open, and reopens when it fails', async () => {
    const clock = fakeDate();
    const c = client({ breaker: { failureThreshold: 1, openMs: 1_000 } });
    await legacy.setConfig({ failureRate: 1 });
    expect((await failure(c.fetch('trial:0'))).failure).toBe('LEGACY_HTTP_503');
    clock.advance(1_000);
    const keys = Array.from({ length: 10 }, (_, i) => `trial:${i + 1}`);
    const outcomes = await Promise.allSettled(keys.map((k) => c.fetch(k)));
    const codes = outcomes.map((o) =>
      o.status === 'rejected' ? (o.reason as LegacyUnavailableError).failure : 'ok',
    );
    expect(codes[0]).toBe('LEGACY_HTTP_503');
    expect(codes.slice(1)).toEqual(Array(9).fill('LEGACY_BREAKER_OPEN'));
    expect((await legacy.stats()).byKey).toMatchObject({ 'trial:1': 1 });
    expect(await requestsFor('trial:2')).toBe(0);
    expect(c.breakerState).toBe('open');
    expect((await failure(c.fetch('trial:1'))).failure).toBe('LEGACY_BREAKER_OPEN');
  });

  it('times out a request the API never answers, then works again once it answers', async () => {
    const metrics = new NodeMetrics();
    const timeoutMs = 500;
    const c = client({ timeoutMs }, { metrics });
    await legacy.setConfig({ hang: true });
    const started = performance.now();
    const err = await failure(c.fetch('user:21'));
    const elapsed = performance.now() - started;
    expect(err.failure).toBe('LEGACY_TIMEOUT');
    // Bounded: the deadline covers the whole request (generous slack for a
    // loaded machine; the point is that it does not wait for the socket).
    expect(elapsed).toBeLessThan(timeoutMs + 4_500);
    expect(c.reachable).toBe(false);
    expect(await counter(metrics, 'timeout')).toBe(1);
    expect(await requestsFor('user:21')).toBe(1);

    await legacy.setConfig({ hang: false });
    expect(text(await c.fetch('user:21'))).toBe('{"id":21,"name":"User 21","email":"user21@example.com"}');
    expect(c.reachable).toBe(true);
  });

  it('waits out the latency switch', async () => {
    const metrics = new NodeMetrics();
    const c = client({}, { metrics });
    await legacy.setConfig({ latencyMs: 300 });
    const started = performance.now();
    expect((await c.fetch('user:31')).found).toBe(true);
    // The API cannot answer sooner than its configured latency.
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    const duration = (await metrics.legacyDuration.get()).values.find((v) => v.metricName?.endsWith('_sum'));
    expect(duration?.value).toBeGreaterThanOrEqual(0.295);
  });

  it('joins the base URL path and the path template', async () => {
    const c = client({ url: `${legacy.url}/legacy/`, pathTemplate: 'data/{key}' });
    expect(text(await c.fetch('legacy:5'))).toBe('legacy-value-5');
  });

  it('rejects fetches after close without sending them', async () => {
    const c = client();
    await c.close();
    expect((await failure(c.fetch('user:41'))).failure).toBe('LEGACY_UNREACHABLE');
    expect(await requestsFor('user:41')).toBe(0);
  });
});
