// Three real node processes on 127.x.y.1-3, a real PostgreSQL and the real
// demo legacy API: what a user of the client API relies on.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status } from '@grpc/grpc-js';
import { CacheServiceClient } from '../../src/gen/cache/cache.js';
import { KvClient, KvClientError, MemberState, Source } from '@kvring/client';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv();
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

async function expectCode(p: Promise<unknown>, code: status, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvClientError);
  expect((err as KvClientError).code).toBe(code);
  expect((err as KvClientError).details).toMatch(message);
}

describe('a 3-node cluster', () => {
  it('agrees on one ring of three members', async () => {
    const infos = await Promise.all(env.clients.map((c) => c.clusterInfo()));
    expect(new Set(infos.map((i) => i.ringHash)).size).toBe(1);
    for (const info of infos) {
      expect(info.members.map((m) => m.name).sort()).toEqual(['kv-0', 'kv-1', 'kv-2']);
      expect(info.members.filter((m) => m.state === MemberState.MEMBER_STATE_SELF)).toHaveLength(1);
      expect(info.postgresReachable).toBe(true);
      const share = info.members.reduce((s, m) => s + m.ownership, 0);
      expect(share).toBeCloseTo(1, 6);
    }
  });

  it('writes through any node and reads the value back through every node', async () => {
    const [a, b, c] = env.clients as [KvClient, KvClient, KvClient];
    const v1 = await a.set('it:greeting', 'hello');
    for (const cl of env.clients) {
      const r = await cl.get('it:greeting');
      expect(r.found).toBe(true);
      expect(r.value.toString()).toBe('hello');
      expect(r.version).toBe(v1);
    }
    const v2 = await b.set('it:greeting', 'hello again');
    expect(v2).toBeGreaterThan(v1);
    expect((await c.get('it:greeting')).value.toString()).toBe('hello again');
    const rows = await env.sql<{ value: Buffer; version: string; tombstone: boolean }>(
      'select value, version, tombstone from kv_store where key = $1',
      ['it:greeting'],
    );
    expect(rows[0]!.value.toString()).toBe('hello again');
    expect(Number(rows[0]!.version)).toBe(v2);
  });

  it('deletes with a versioned tombstone in PostgreSQL, seen by every node', async () => {
    const [a, b] = env.clients as [KvClient, KvClient];
    const v1 = await a.set('it:doomed', 'x');
    const v2 = await b.delete('it:doomed');
    expect(v2).toBeGreaterThan(v1);
    for (const cl of env.clients) expect((await cl.get('it:doomed')).found).toBe(false);
    const rows = await env.sql<{ tombstone: boolean; version: string }>(
      'select tombstone, version from kv_store where key = $1',
      ['it:doomed'],
    );
    expect(rows).toEqual([{ tombstone: true, version: String(v2) }]);
  });

  it('serves MGet and MSet across keys owned by different nodes', async () => {
    const [a, b] = env.clients as [KvClient, KvClient];
    const entries = Array.from({ length: 50 }, (_, i) => ({ key: `it:m:${i}`, value: `v${i}` }));
    const results = await a.mset(entries);
    expect(results.every((r) => r.code === 0 && r.version >= 1)).toBe(true);
    const items = await b.mget([...entries.map((e) => e.key), 'it:m:absent']);
    expect(items.slice(0, 50).map((i) => i.value.toString())).toEqual(entries.map((e) => e.value));
    expect(items[50]!.found).toBe(false);
  });

  it("keeps the prototype's cache.CacheService working on the client port", async () => {
    const node = env.cluster.nodes[1]!;
    const proto = new CacheServiceClient(node.clientAddress, credentials.createInsecure());
    const call = <Req, Res>(fn: (r: Req, cb: (e: Error | null, res: Res) => void) => unknown, req: Req) =>
      new Promise<Res>((resolve, reject) => fn(req, (e, r) => (e ? reject(e) : resolve(r))));
    const setRes = await call(proto.set.bind(proto), {
      key: 'it:proto',
      value: Buffer.from('from the prototype'),
    });
    expect(setRes).toEqual({ success: true });
    const got = await call(proto.get.bind(proto), { key: 'it:proto' });
    expect(got).toEqual({ value: Buffer.from('from the prototype'), found: true });
    const missing = await call(proto.get.bind(proto), { key: 'it:proto:absent' });
    expect(missing).toEqual({ value: Buffer.alloc(0), found: false });
    proto.close();
    // Same data as kvring.v1: one coordinator behind both APIs.
    expect((await env.clients[2]!.get('it:proto')).value.toString()).toBe('from the prototype');
  });

  it('reads a legacy-only key through, hydrating PostgreSQL, then serves it from memory', async () => {
    await env.legacy.resetStats();
    const first = await env.clients[0]!.get('user:17');
    expect(first.found).toBe(true);
    expect(first.source).toBe(Source.SOURCE_LEGACY);
    expect(JSON.parse(first.value.toString())).toMatchObject({ id: 17 });
    const rows = await env.sql<{ value: Buffer; version: string }>(
      'select value, version from kv_store where key = $1',
      ['user:17'],
    );
    expect(rows[0]!.value.toString()).toBe(first.value.toString());
    for (const cl of env.clients) {
      const again = await cl.get('user:17');
      expect(again.value.toString()).toBe(first.value.toString());
      expect(again.source).toBe(Source.SOURCE_MEMORY);
    }
    expect((await env.legacy.stats()).byKey['user:17']).toBe(1);
  });

  it('answers not found for a key nobody has, without storing anything', async () => {
    const r = await env.clients[1]!.get('user:999999');
    expect(r.found).toBe(false);
    expect(await env.sql('select 1 from kv_store where key = $1', ['user:999999'])).toEqual([]);
  });

  it('does not bring a deleted legacy key back from the legacy API', async () => {
    await env.clients[0]!.get('user:18');
    await env.clients[1]!.delete('user:18');
    await env.legacy.resetStats();
    for (const cl of env.clients) expect((await cl.get('user:18')).found).toBe(false);
    expect((await env.legacy.stats()).byKey['user:18']).toBeUndefined();
  });

  it('makes one legacy call for a herd of concurrent misses of one key over all nodes', async () => {
    await env.legacy.resetStats();
    const gets = Array.from({ length: 300 }, (_, i) => env.clients[i % 3]!.get('user:321'));
    const results = await Promise.all(gets);
    expect(results.every((r) => r.found)).toBe(true);
    expect((await env.legacy.stats()).byKey['user:321']).toBe(1);
  });

  it('rejects bad input with INVALID_ARGUMENT naming the limit, and keeps serving', async () => {
    const cl = env.clients[0]!;
    await expectCode(cl.set('', 'x'), status.INVALID_ARGUMENT, /key: must not be empty/);
    await expectCode(
      cl.set('k'.repeat(1025), 'x'),
      status.INVALID_ARGUMENT,
      /1025 bytes exceeds the key limit of 1024/,
    );
    await expectCode(
      cl.set('it:big', Buffer.alloc(1024 * 1024 + 1)),
      status.INVALID_ARGUMENT,
      /1048577 bytes exceeds the value limit of 1048576/,
    );
    await expectCode(cl.get('bad\0key'), status.INVALID_ARGUMENT, /NUL/);
    await expectCode(
      cl.mget(Array.from({ length: 1001 }, (_, i) => `k${i}`)),
      status.INVALID_ARGUMENT,
      /1001 entries exceeds the batch limit of 1000/,
    );
    await expectCode(cl.mget([]), status.INVALID_ARGUMENT, /at least one/);
    expect(await env.sql('select 1 from kv_store where key = $1', ['it:big'])).toEqual([]);
    await cl.set('it:after-bad-input', 'fine');
    expect((await cl.get('it:after-bad-input')).value.toString()).toBe('fine');
  });

  it('fails writes with UNAVAILABLE while PostgreSQL is down, still reads cached keys, and recovers', async () => {
    const [a, b] = env.clients as [KvClient, KvClient];
    await a.set('it:cached', 'before the outage');
    await env.pg.stop();
    try {
      await expectCode(a.set('it:during', 'x'), status.UNAVAILABLE, /PostgreSQL/);
      const r = await b.get('it:cached');
      expect(r.value.toString()).toBe('before the outage');
    } finally {
      await env.pg.start();
    }
    // The pool reconnects by itself.
    let version = 0;
    for (let i = 0; i < 50 && version === 0; i++) {
      version = await a.set('it:after', 'back').catch(() => 0);
      if (version === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(version).toBeGreaterThan(0);
    expect(await env.sql('select 1 from kv_store where key = $1', ['it:during'])).toEqual([]);
  });

  it('keeps every acknowledged key readable across a full cluster stop and start', async () => {
    const acked = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      const key = `it:durable:${i}`;
      await env.clients[i % 3]!.set(key, `value-${i}`);
      acked.set(key, `value-${i}`);
    }
    await env.cluster.stop();
    await env.cluster.startAll();
    const cl = new KvClient(env.cluster.clientAddresses);
    try {
      for (const [key, value] of acked) expect((await cl.get(key)).value.toString()).toBe(value);
    } finally {
      cl.close();
    }
  });
});
