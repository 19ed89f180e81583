// PostgreSQL going away and coming back: writes fail with PgUnavailableError
// (never reported as committed), the store says it is unreachable, and it
// recovers by itself when PostgreSQL returns.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { NodeMetrics } from '../../src/metrics.js';
import { PgUnavailableError } from '../../src/pg/errors.js';
import { PgStore } from '../../src/pg/store.js';
import { startPostgresProxy } from '../support/postgres-proxy.js';
import { pgStoreOptions, startPostgres, testLogger, type TestPostgres } from '../support/postgres.js';

let server: TestPostgres;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

const set = (key: string, value = 'v') => ({ key, value: Buffer.from(value), tombstone: false, ttlMs: 0 });

async function gauge(metrics: NodeMetrics): Promise<number | undefined> {
  return (await metrics.pgUp.get()).values[0]?.value;
}

async function waitFor(cond: () => Promise<boolean>, attempts = 100, everyMs = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

async function keysIn(table: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    return (await c.query<{ key: string }>(`SELECT key FROM "${table}" ORDER BY key`)).rows.map((r) => r.key);
  } finally {
    await c.end();
  }
}

describe('PostgreSQL stopped', () => {
  it('rejects writes with PgUnavailableError, commits none of them, and works again after a restart', async () => {
    const metrics = new NodeMetrics();
    const opts = pgStoreOptions(server, { timeoutMs: 1000 });
    const store = await PgStore.open(opts, { log: testLogger(), metrics });
    try {
      const first = await store.write(set('before'));
      expect(store.reachable).toBe(true);
      expect(await gauge(metrics)).toBe(1);

      await server.stop();
      const t0 = performance.now();
      const during = Array.from({ length: 20 }, (_, i) => store.write(set(`during${i}`)));
      const outcomes = await Promise.allSettled(during);
      console.log(
        `writes rejected ${(performance.now() - t0).toFixed(0)} ms after PostgreSQL stopped (timeout 1000 ms)`,
      );
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        const err = (o as PromiseRejectedResult).reason as PgUnavailableError;
        expect(err).toBeInstanceOf(PgUnavailableError);
        expect(err.code).toBe('POSTGRES_UNAVAILABLE');
        expect(err.reason).toBe('unreachable');
        expect(err.message).toMatch(/^PostgreSQL is unreachable \(write of \d+ key\(s\) not done\): \S/);
      }
      await expect(store.read('before')).rejects.toMatchObject({ code: 'POSTGRES_UNAVAILABLE' });
      expect(store.reachable).toBe(false);
      expect(await store.ping()).toBe(false);
      expect(await gauge(metrics)).toBe(0);

      await server.start();
      expect(await store.ping()).toBe(true);
      expect(store.reachable).toBe(true);
      expect(await gauge(metrics)).toBe(1);
      const again = await store.write(set('before'));
      expect(again).toBeGreaterThan(first);
      expect(await store.write(set('after'))).toBeGreaterThan(again);
      // Nothing from the outage was committed behind the callers' backs.
      expect(await keysIn(opts.table)).toEqual(['after', 'before']);
    } finally {
      await store.close();
    }
  });

  it('open() while PostgreSQL is down: the store starts unready, then migrates and serves once it is back', async () => {
    const opts = pgStoreOptions(server, { timeoutMs: 1000 });
    await server.stop();
    let store: PgStore | undefined;
    try {
      store = await PgStore.open(opts, { log: testLogger() });
      expect(store.reachable).toBe(false);
      expect(await store.ping()).toBe(false);
      await expect(store.write(set('k'))).rejects.toMatchObject({
        code: 'POSTGRES_UNAVAILABLE',
        reason: 'unreachable',
      });

      await server.start();
      const s = store;
      expect(await waitFor(async () => s.reachable)).toBe(true); // the retry loop, without any call
      expect(await store.ping()).toBe(true);
      expect(await store.write(set('k'))).toBeGreaterThan(0);
    } finally {
      await store?.close();
      if (!server.running) await server.start();
    }
  });

  it('open() with requireReachable fails with a clear error instead', async () => {
    await server.stop();
    try {
      await expect(
        PgStore.open(pgStoreOptions(server, { timeoutMs: 1000, requireReachable: true }), {
          log: testLogger(),
        }),
      ).rejects.toThrow(/^PostgreSQL is unreachable \(schema migration not done\): .*ECONNREFUSED/);
    } finally {
      await server.start();
    }
  });
});

describe('PostgreSQL not answering (network black hole)', () => {
  it('fails writes after the timeout instead of hanging (in doubt: the statement was sent), then recovers', async () => {
    const proxy = await startPostgresProxy(server.port);
    const opts = pgStoreOptions(server, { url: undefined, port: proxy.port, timeoutMs: 800 });
    const store = await PgStore.open(opts, { log: testLogger() });
    try {
      const first = await store.write(set('x'));
      proxy.blackhole();
      const t0 = performance.now();
      // The upsert that commits went out on a pooled connection and no answer
      // came back: whether PostgreSQL got and committed it nobody can know.
      await expect(store.write(set('x'))).rejects.toMatchObject({ code: 'WRITE_IN_DOUBT' });
      console.log(
        `write rejected ${(performance.now() - t0).toFixed(0)} ms into a black hole (timeout 800 ms)`,
      );
      expect(store.reachable).toBe(false);
      expect(await store.ping()).toBe(false);
      proxy.restore();
      expect(await waitFor(() => store.ping(), 20)).toBe(true);
      expect(await store.write(set('x'))).toBeGreaterThan(first);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('is noticed by an idle store too (background ping), so /readyz needs no traffic to turn unready', async () => {
    const proxy = await startPostgresProxy(server.port);
    const opts = pgStoreOptions(server, {
      url: undefined,
      port: proxy.port,
      timeoutMs: 500,
      pingIntervalMs: 200,
    });
    const store = await PgStore.open(opts, { log: testLogger() });
    try {
      expect(store.reachable).toBe(true);
      proxy.blackhole();
      expect(await waitFor(async () => !store.reachable, 50)).toBe(true);
      proxy.restore();
      expect(await waitFor(async () => store.reachable, 50)).toBe(true);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
