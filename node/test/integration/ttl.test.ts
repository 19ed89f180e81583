// Time to live on three real nodes with a real PostgreSQL and the demo legacy
// API: a per-key TTL, the default TTL (KVRING_DEFAULT_TTL), and what a read
// sees once a value expired. The expiry instant is checked in PostgreSQL
// itself (expires_at - updated_at, both stamped by the same statement), and
// reads after it are checked against a bound: an acknowledged write expires
// on every replica at the latest TTL after its acknowledgement.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials } from '@grpc/grpc-js';
import { CacheServiceClient } from '../../src/gen/cache/cache.js';
import { MemberState, Source } from '@kvring/client';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

const DEFAULT_TTL_MS = 2000;
/** Allowance past an expiry for millisecond rounding and timer granularity. */
const MARGIN_MS = 100;

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({ env: { KVRING_DEFAULT_TTL: `${DEFAULT_TTL_MS}ms` } });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

/** The TTL PostgreSQL stored for each key, in ms (null: no expiry). */
async function storedTtls(keys: readonly string[]): Promise<Record<string, number | null>> {
  const rows = await env.sql<{ key: string; ttl: string | null }>(
    `select key, round(extract(epoch from (expires_at - updated_at)) * 1000)::bigint::text as ttl
       from kv_store where key = any($1::text[])`,
    [keys],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.ttl === null ? null : Number(r.ttl)]));
}

/** Sleeps until the wall clock reaches `at` (ms since the epoch). */
async function until(at: number): Promise<void> {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** What each node answers for `key`: its value, or null when not found. */
async function everyNode(key: string): Promise<Array<string | null>> {
  const out: Array<string | null> = [];
  for (const c of env.clients) {
    const r = await c.get(key);
    out.push(r.found ? r.value.toString() : null);
  }
  return out;
}

describe('TTL', () => {
  it('serves a key set with ttl_ms=1500, then never again once it expired, on any node', async () => {
    await env.legacy.resetStats();
    const start = Date.now();
    await env.clients[0]!.set('ttl:short', 'fleeting', { ttlMs: 1500 });
    const acked = Date.now();
    expect(await storedTtls(['ttl:short'])).toEqual({ 'ttl:short': 1500 });

    // Readable through every node while it lives (a read after its expiry, on
    // a machine slow enough to get there, may only find nothing).
    for (const c of env.clients) {
      const r = await c.get('ttl:short');
      if (r.found) expect(r.value.toString()).toBe('fleeting');
      else expect(Date.now() - start).toBeGreaterThanOrEqual(1500);
    }

    await until(acked + 1500 + MARGIN_MS);
    expect(await everyNode('ttl:short')).toEqual([null, null, null]);
    const items = await env.clients[1]!.mget(['ttl:short']);
    expect(items.map((i) => i.found)).toEqual([false]);
    // Still gone on a second round: nothing (replica, PostgreSQL, legacy API) brought it back.
    expect(await everyNode('ttl:short')).toEqual([null, null, null]);
    // The row is kept, expired, not deleted: the expiry is what hides it.
    const rows = await env.sql<{ expired: boolean; value: Buffer }>(
      'select expires_at <= now() as expired, value from kv_store where key = $1',
      ['ttl:short'],
    );
    expect(rows).toEqual([{ expired: true, value: Buffer.from('fleeting') }]);
    // The legacy API does not know the key; asked at most once, it changed nothing.
    expect((await env.legacy.stats()).byKey['ttl:short'] ?? 0).toBeLessThanOrEqual(1);
  });

  it('gives writes without a TTL the default TTL, and lets a per-key TTL override it either way', async () => {
    const [a, b] = env.clients;
    await a!.set('ttl:default', 'd');
    await a!.set('ttl:longer', 'l', { ttlMs: 60_000 });
    await b!.set('ttl:shorter', 's', { ttlMs: 1200 });
    const results = await b!.mset([
      { key: 'ttl:mset-default', value: 'md' },
      { key: 'ttl:mset-longer', value: 'ml', ttlMs: 60_000 },
    ]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    // The prototype's API has no TTL field: its writes get the default.
    const proto = new CacheServiceClient(env.cluster.nodes[2]!.clientAddress, credentials.createInsecure());
    try {
      await new Promise<void>((resolve, reject) =>
        proto.set({ key: 'ttl:proto', value: Buffer.from('p') }, (e) => (e ? reject(e) : resolve())),
      );
    } finally {
      proto.close();
    }
    const acked = Date.now();

    expect(
      await storedTtls([
        'ttl:default',
        'ttl:longer',
        'ttl:shorter',
        'ttl:mset-default',
        'ttl:mset-longer',
        'ttl:proto',
      ]),
    ).toEqual({
      'ttl:default': DEFAULT_TTL_MS,
      'ttl:longer': 60_000,
      'ttl:shorter': 1200,
      'ttl:mset-default': DEFAULT_TTL_MS,
      'ttl:mset-longer': 60_000,
      'ttl:proto': DEFAULT_TTL_MS,
    });

    await until(acked + DEFAULT_TTL_MS + MARGIN_MS);
    for (const key of ['ttl:default', 'ttl:shorter', 'ttl:mset-default', 'ttl:proto'])
      expect({ key, values: await everyNode(key) }).toEqual({ key, values: [null, null, null] });
    expect(await everyNode('ttl:longer')).toEqual(['l', 'l', 'l']);
    expect(await everyNode('ttl:mset-longer')).toEqual(['ml', 'ml', 'ml']);
  });

  it('does not serve an expired overwrite of a legacy key: the legacy value is read through again', async () => {
    const legacyValue = (await env.clients[0]!.get('user:12')).value.toString();
    expect(JSON.parse(legacyValue)).toMatchObject({ id: 12 });
    const v = await env.clients[0]!.set('user:12', 'overwritten for a while', { ttlMs: 1500 });
    const acked = Date.now();
    await until(acked + 1500 + MARGIN_MS);
    const after = await env.clients[1]!.get('user:12');
    expect(after.value.toString()).toBe(legacyValue);
    expect(after.source).toBe(Source.SOURCE_LEGACY);
    expect(after.version).toBeGreaterThan(v);
    // Read through again, it lives for the default TTL like any value without one.
    expect(await storedTtls(['user:12'])).toEqual({ 'user:12': DEFAULT_TTL_MS });
  });

  it('does not bring a value back through a hint replayed after its TTL passed', async () => {
    const paused = env.cluster.nodes[2]!;
    const coordinator = env.cluster.nodes[0]!;
    const seesDown = async (): Promise<boolean> => {
      const info = await env.clients[0]!.clusterInfo(coordinator.clientAddress);
      return info.members.some((m) => m.name === paused.name && m.state === MemberState.MEMBER_STATE_DOWN);
    };
    paused.signal('SIGSTOP');
    try {
      const deadline = Date.now() + 15_000;
      while (!(await seesDown()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await seesDown()).toBe(true);
      // Every key has a replica on the paused node (N = 3 on 3 nodes): it gets a hint.
      await env.clients[0]!.set('ttl:hinted', 'should expire', { ttlMs: 1500 });
      // Keep it away until the value expired everywhere else.
      await until(Date.now() + 3000);
    } finally {
      paused.signal('SIGCONT');
    }
    await env.cluster.waitConverged(15_000);
    // Bounded: ten rounds over every node once the hint had its chance to be replayed.
    const seen: Array<string | null> = [];
    for (let i = 0; i < 10; i++) {
      seen.push(...(await everyNode('ttl:hinted')));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.filter((v) => v !== null)).toEqual([]);
  }, 60_000);
});
