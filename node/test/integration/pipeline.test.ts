// The Pipeline stream on a real 3-node cluster (PostgreSQL, legacy API):
// through the auto-batching client, and raw frames past the node's limits.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { KvError, LimitExceededError, PipelineClient } from '@kvring/client';
import {
  KVServiceClient,
  type PipelineOp,
  type PipelineResponse,
  type PipelineResult,
} from '../../src/gen/kvring/v1/kvring.js';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;
let pipelined: PipelineClient;

beforeAll(async () => {
  env = await startTestEnv({
    env: { KVRING_MAX_BATCH: '16', KVRING_MAX_FRAME_BYTES: '64Ki', KVRING_MAX_VALUE_BYTES: '16Ki' },
  });
  // The client's frame bounds within the nodes' (lowered) limits.
  pipelined = new PipelineClient(env.cluster.clientAddresses, {
    ringAware: true,
    timeoutMs: 15_000,
    maxOpsPerFrame: 16,
    maxFrameBytes: 60 * 1024,
  });
  await pipelined.refreshRing();
}, 120_000);

afterAll(async () => {
  pipelined?.close();
  await env?.stop();
}, 60_000);

/** Sends raw frames on one stream and collects results by id. */
async function rawFrames(address: string, frames: PipelineOp[][]): Promise<Map<number, PipelineResult>> {
  const client = new KVServiceClient(address, credentials.createInsecure());
  const call = client.pipeline();
  const results = new Map<number, PipelineResult>();
  const expected = frames.reduce((n, f) => n + f.length, 0);
  try {
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (res: PipelineResponse) => {
        for (const r of res.results) results.set(r.id, r);
        if (results.size === expected) resolve();
      });
      call.on('error', (e: ServiceError) => reject(e));
    });
    for (const ops of frames) call.write({ ops });
    await done;
    call.end();
    await once(call, 'status', { signal: AbortSignal.timeout(10_000) });
    return results;
  } finally {
    client.close();
  }
}

describe('Pipeline on a 3-node cluster', () => {
  it('writes, reads and deletes many keys in frames; the unary API sees the same data', async () => {
    const keys = Array.from({ length: 120 }, (_, i) => `pipe-${i}`);
    const versions = await Promise.all(keys.map((k) => pipelined.set(k, `value of ${k}`)));
    expect(versions.every((v) => v > 0)).toBe(true);
    const read = await Promise.all(keys.map((k) => pipelined.get(k)));
    expect(read.map((r) => r.value.toString())).toEqual(keys.map((k) => `value of ${k}`));
    expect(read.map((r) => r.version)).toEqual(versions);
    expect((await env.clients[1]!.get('pipe-7')).value.toString()).toBe('value of pipe-7');
    const deleted = await pipelined.delete('pipe-3');
    expect(deleted).toBeGreaterThan(versions[3]!);
    expect((await pipelined.get('pipe-3')).found).toBe(false);
    const rows = await env.sql<{ n: string }>(
      `SELECT count(*) AS n FROM kv_store WHERE key LIKE 'pipe-%' AND NOT tombstone`,
    );
    expect(Number(rows[0]!.n)).toBe(119);
  });

  it('answers each operation of a turn on its own: oversized and empty keys fail INVALID_ARGUMENT, the rest succeed', async () => {
    const settled = await Promise.allSettled([
      pipelined.set('mixed-ok', 'v'),
      pipelined.set('mixed-big', Buffer.alloc(17 * 1024)),
      pipelined.get(''),
      pipelined.get('mixed-ok'),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const big = (settled[1] as PromiseRejectedResult).reason as LimitExceededError;
    expect(big).toBeInstanceOf(LimitExceededError);
    expect([big.reason, big.field, big.limit]).toEqual(['LIMIT_EXCEEDED', 'value', 16384]);
    expect(big.code).toBe(status.INVALID_ARGUMENT);
    expect(big.details).toMatch(/exceeds the value limit of 16384 bytes \(KVRING_MAX_VALUE_BYTES\)/);
    const empty = (settled[2] as PromiseRejectedResult).reason as KvError;
    expect([empty.code, empty.details]).toEqual([status.INVALID_ARGUMENT, 'key: must not be empty']);
  });

  it('refuses frames past the operation and byte limits per operation, naming the limit, and keeps serving', async () => {
    const address = env.cluster.clientAddresses[0]!;
    const tooMany = Array.from({ length: 17 }, (_, i): PipelineOp => ({ id: i + 1, get: { key: `k${i}` } }));
    const tooBig: PipelineOp[] = [
      { id: 100, set: { key: 'big-a', value: Buffer.alloc(15 * 1024), ttlMs: 0, idempotencyKey: '' } },
      ...[1, 2, 3, 4, 5].map((i): PipelineOp => ({
        id: 100 + i,
        set: { key: `big-${i}`, value: Buffer.alloc(15 * 1024), ttlMs: 0, idempotencyKey: '' },
      })),
    ];
    const fine: PipelineOp[] = [
      { id: 200, set: { key: 'after-limits', value: Buffer.from('ok'), ttlMs: 0, idempotencyKey: '' } },
    ];
    const results = await rawFrames(address, [tooMany, tooBig, fine]);
    for (const op of tooMany) {
      const r = results.get(op.id)!;
      expect([r.code, r.reason, r.message]).toEqual([
        status.INVALID_ARGUMENT,
        'LIMIT_EXCEEDED',
        'frame: 17 operations exceeds the limit of 16 operations per frame (KVRING_MAX_BATCH)',
      ]);
    }
    for (const op of tooBig) {
      const r = results.get(op.id)!;
      expect([r.code, r.reason]).toEqual([status.INVALID_ARGUMENT, 'LIMIT_EXCEEDED']);
      expect(r.message).toMatch(
        /^frame: \d+ bytes exceeds the frame limit of 65536 bytes \(KVRING_MAX_FRAME_BYTES\)$/,
      );
    }
    expect(results.get(200)).toMatchObject({ code: 0 });
    expect(results.get(200)!.set!.version).toBeGreaterThan(0);
    // Nothing of the refused frames was written; the node serves unary calls as before.
    expect((await env.clients[0]!.get('big-1')).found).toBe(false);
    expect((await env.clients[0]!.get('after-limits')).value.toString()).toBe('ok');
  });
});
