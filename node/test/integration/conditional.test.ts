// Conditional writes (expected version) and idempotency keys: in PgStore
// against a real PostgreSQL, and through a 3-node cluster's gRPC API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import pg from 'pg';
import { KVServiceClient, type SetRequest } from '../../src/gen/kvring/v1/kvring.js';
import { PgStore } from '../../src/pg/store.js';
import { startTestEnv, type TestEnv } from '../support/cluster.js';
import { pgStoreOptions, testLogger } from '../support/postgres.js';

let env: TestEnv;
let stub: KVServiceClient;

beforeAll(async () => {
  env = await startTestEnv();
  stub = new KVServiceClient(env.cluster.nodes[0]!.clientAddress, credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  stub?.close();
  await env?.stop();
}, 60_000);

const value = (v: string) => ({ key: '', value: Buffer.from(v), tombstone: false, ttlMs: 0 });

function set(req: Partial<SetRequest> & { key: string }): Promise<{ version: number } | ServiceError> {
  const full: SetRequest = { value: Buffer.from('v'), ttlMs: 0, idempotencyKey: '', ...req };
  return new Promise((resolve) => stub.set(full, (err, res) => resolve(err ?? { version: res.version })));
}

function del(key: string, expectedVersion?: number): Promise<{ version: number } | ServiceError> {
  return new Promise((resolve) =>
    stub.delete({ key, expectedVersion }, (err, res) => resolve(err ?? { version: res.version })),
  );
}

describe('PgStore conditional writes', () => {
  it('apply only at the expected version (0 = absent or deleted) and report the current one otherwise', async () => {
    const store = await PgStore.open(pgStoreOptions(env.pg), { log: testLogger() });
    try {
      const op = (v: string) => ({ ...value(v), key: 'c' });
      const first = await store.writeConditional(op('a'), { expectedVersion: 0 });
      await expect(store.writeConditional(op('b'), { expectedVersion: 0 })).rejects.toMatchObject({
        code: 'VERSION_MISMATCH',
        current: first.version,
      });
      const second = await store.writeConditional(op('b'), { expectedVersion: first.version });
      expect(second.version).toBeGreaterThan(first.version);
      await expect(store.writeConditional(op('c'), { expectedVersion: first.version })).rejects.toMatchObject(
        {
          code: 'VERSION_MISMATCH',
          current: second.version,
        },
      );
      expect((await store.read('c'))?.value?.toString()).toBe('b');
      // A deleted key counts as absent.
      await store.writeConditional(
        { key: 'c', value: null, tombstone: true, ttlMs: 0 },
        { expectedVersion: second.version },
      );
      expect((await store.writeConditional(op('d'), { expectedVersion: 0 })).replayed).toBe(false);
      // Concurrent compare-and-sets at one version: exactly one wins.
      const cur = (await store.read('c'))!.version;
      const race = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.writeConditional(op(`r${i}`), { expectedVersion: cur })),
      );
      expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('apply an idempotent write once; a retry returns the first version even after later writes', async () => {
    const store = await PgStore.open(pgStoreOptions(env.pg), { log: testLogger() });
    try {
      const op = { ...value('once'), key: 'i' };
      const tries = await Promise.all(
        Array.from({ length: 5 }, () => store.writeConditional(op, { idempotencyKey: 'req-1' })),
      );
      expect(new Set(tries.map((t) => t.version)).size).toBe(1);
      expect(tries.filter((t) => !t.replayed)).toHaveLength(1);
      await store.write({ ...value('later'), key: 'i' });
      expect(await store.writeConditional(op, { idempotencyKey: 'req-1' })).toEqual({
        version: tries[0]!.version,
        replayed: true,
      });
      expect((await store.read('i'))?.value?.toString()).toBe('later');
      await expect(
        store.writeConditional({ ...value('x'), key: 'other' }, { idempotencyKey: 'req-1' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await store.close();
    }
  });

  it('keep idempotency records for a bounded time: expired ones are deleted by later idempotent writes', async () => {
    const opts = pgStoreOptions(env.pg, { idempotencyTtlMs: 1 });
    const store = await PgStore.open(opts, { log: testLogger() });
    const c = new pg.Client({ connectionString: env.pg.url });
    await c.connect();
    try {
      for (let i = 0; i < 200; i++)
        await store.writeConditional({ ...value('v'), key: `b${i}` }, { idempotencyKey: `k${i}` });
      const n = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${opts.table}_idempotency"`);
      console.log(`idempotency records after 200 writes with a 1 ms retention: ${n.rows[0]!.n}`);
      expect(n.rows[0]!.n).toBeLessThan(50);
    } finally {
      await c.end();
      await store.close();
    }
  });
});

describe('through the cluster', () => {
  it('Set/Delete with expected_version: FAILED_PRECONDITION with the current version on a mismatch', async () => {
    const ok = await set({ key: 'cas:k', expectedVersion: 0 });
    expect(ok).toHaveProperty('version');
    const v = (ok as { version: number }).version;
    const stale = await set({ key: 'cas:k', expectedVersion: 0 });
    expect(stale).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect((stale as ServiceError).details).toContain(`current version is ${v}`);
    expect(await del('cas:k', v + 1000)).toMatchObject({ code: status.FAILED_PRECONDITION });
    const gone = await del('cas:k', v);
    expect(gone).toHaveProperty('version');
    expect((await env.clients[1]!.get('cas:k')).found).toBe(false);
  });

  it('Set with an idempotency key: a retry returns the first version and applies nothing', async () => {
    const first = await set({ key: 'idem:k', value: Buffer.from('one'), idempotencyKey: 'op-77' });
    await env.clients[2]!.set('idem:k', 'two');
    const retry = await set({ key: 'idem:k', value: Buffer.from('one'), idempotencyKey: 'op-77' });
    expect(retry).toEqual(first);
    for (const c of env.clients) expect((await c.get('idem:k')).value.toString()).toBe('two');
  });
});
