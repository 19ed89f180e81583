// The client's retry rules against real grpc-js servers in this process
// (support/stub-node.ts): each stands in for a node and answers with a
// chosen status and ErrorInfo; the test counts how many times each node
// saw each call.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import {
  KvClient,
  KvError,
  LimitExceededError,
  PostgresUnavailableError,
  QuorumUnavailableError,
  WriteInDoubtError,
} from '../src/index.js';
import { StubNode } from './support/stub-node.js';

const a = new StubNode();
const b = new StubNode();
let client: KvClient;

beforeAll(async () => {
  await a.start();
  await b.start();
});
afterAll(async () => {
  await a.stop();
  await b.stop();
});
afterEach(() => {
  client?.close();
  for (const n of [a, b]) n.clear();
});

/** A client whose first call goes to `a`, then `b` (round robin from the first seed). */
function clientAB(): KvClient {
  client = new KvClient([a.address, b.address], { timeoutMs: 5_000 });
  return client;
}

async function failure(p: Promise<unknown>): Promise<KvError> {
  const err = await p.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvError);
  return err as KvError;
}

describe('writes', () => {
  it('are not resent after WRITE_IN_DOUBT, which arrives typed with its version', async () => {
    a.answer = { code: status.UNKNOWN, reason: 'WRITE_IN_DOUBT', metadata: { version: '12' } };
    const err = await failure(clientAB().set('k', 'v'));
    expect(err).toBeInstanceOf(WriteInDoubtError);
    expect(err).toMatchObject({ reason: 'WRITE_IN_DOUBT', code: status.UNKNOWN, address: a.address });
    expect((err as WriteInDoubtError).version).toBe(12);
    expect([a.seen('set'), b.seen('set')]).toEqual([1, 0]);
  });

  it('are not resent after an UNAVAILABLE without a reason (the request may have arrived)', async () => {
    a.answer = { code: status.UNAVAILABLE };
    const err = await failure(clientAB().delete('k'));
    expect(err).toMatchObject({ reason: 'UNAVAILABLE', code: status.UNAVAILABLE, notSent: false });
    expect([a.seen('delete'), b.seen('delete')]).toEqual([1, 0]);
  });

  it('are not resent after DEADLINE_EXCEEDED', async () => {
    a.answer = { code: status.DEADLINE_EXCEEDED };
    await failure(clientAB().set('k', 'v'));
    expect([a.seen('set'), b.seen('set')]).toEqual([1, 0]);
  });

  it.each([
    ['QUORUM_UNAVAILABLE', QuorumUnavailableError],
    ['POSTGRES_UNAVAILABLE', PostgresUnavailableError],
    ['SHUTTING_DOWN', KvError],
  ])('are resent on another node after %s (refused before anything was applied)', async (reason, Class) => {
    a.answer = { code: status.UNAVAILABLE, reason };
    expect(await clientAB().set('k', 'v')).toBe(7);
    expect([a.seen('set'), b.seen('set')]).toEqual([1, 1]);
    // The same refusal from every node reaches the caller typed.
    b.answer = a.answer;
    const err = await failure(client.set('k', 'v'));
    expect(err).toBeInstanceOf(Class);
    expect(err.reason).toBe(reason);
  });

  it('are resent when the first node cannot be connected to (never sent)', async () => {
    const dead = new StubNode();
    await dead.start();
    await dead.stop();
    client = new KvClient([dead.address, b.address], { timeoutMs: 5_000 });
    expect(await client.set('k', 'v')).toBe(7);
    expect(b.seen('set')).toBe(1);
  });

  it('are not resent after LIMIT_EXCEEDED, which carries the field and the limit', async () => {
    a.answer = {
      code: status.INVALID_ARGUMENT,
      reason: 'LIMIT_EXCEEDED',
      metadata: { field: 'value', limit: '1048576' },
    };
    const err = await failure(clientAB().set('k', 'v'));
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err).toMatchObject({ field: 'value', limit: 1048576 });
    expect([a.seen('set'), b.seen('set')]).toEqual([1, 0]);
  });
});

describe('reads', () => {
  it('are retried on UNAVAILABLE: once on the same node (service config), then on another node', async () => {
    a.answer = { code: status.UNAVAILABLE };
    const r = await clientAB().get('k');
    expect(r.version).toBe(1);
    expect([a.seen('get'), b.seen('get')]).toEqual([2, 1]);
  });

  it('are not retried on INVALID_ARGUMENT', async () => {
    a.answer = { code: status.INVALID_ARGUMENT, reason: 'INVALID_ARGUMENT' };
    await failure(clientAB().get(''));
    expect([a.seen('get'), b.seen('get')]).toEqual([1, 0]);
  });
});
