// The auto-batching client against an in-process grpc-js KVService whose
// Pipeline handler the test scripts: what frames the client sends, and how
// it matches and fails operations.
import { EventEmitter, once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  KVServiceService,
  Source,
  type KVServiceServer,
  type PipelineRequest,
  type PipelineResponse,
  type PipelineResult,
} from '../src/gen/kvring/v1/kvring.js';
import { InvalidArgumentError, KvError } from '../src/errors.js';
import { PipelineClient, type PipelineClientOptions } from '../src/pipeline.js';
import { mayResend } from '../src/retry.js';

type Call = ServerDuplexStream<PipelineRequest, PipelineResponse>;

/** A scripted node: records frames; `onFrame` decides what to answer. */
class FakeNode extends EventEmitter {
  readonly frames: PipelineRequest[] = [];
  streams = 0;
  onFrame: (frame: PipelineRequest, call: Call) => void = (frame, call) =>
    call.write({ results: frame.ops.map(answer) });
  private server = new Server();
  address = '';

  async start(): Promise<void> {
    const unimplemented = (_c: unknown, cb: (e: { code: number }) => void): void =>
      cb({ code: status.UNIMPLEMENTED });
    const impl: KVServiceServer = {
      get: unimplemented,
      set: unimplemented,
      delete: unimplemented,
      mGet: unimplemented,
      mSet: unimplemented,
      clusterInfo: unimplemented,
      pipeline: (call) => {
        this.streams++;
        call.on('data', (f: PipelineRequest) => {
          this.frames.push(f);
          this.onFrame(f, call);
          this.emit('frame');
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    };
    this.server.addService(KVServiceService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  /** Resolves once `n` frames arrived (bounded: 5 s). */
  async framesReach(n: number): Promise<void> {
    const deadline = AbortSignal.timeout(5000);
    while (this.frames.length < n) await once(this, 'frame', { signal: deadline });
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** Success for get/set/delete; a key starting with "bad" fails INVALID_ARGUMENT. */
function answer(op: PipelineRequest['ops'][number]): PipelineResult {
  const key = op.get?.key ?? op.set?.key ?? op.delete?.key ?? '';
  const base = { id: op.id, code: 0, reason: '', message: '', metadata: {} };
  if (key.startsWith('bad'))
    return {
      ...base,
      code: status.INVALID_ARGUMENT,
      reason: 'INVALID_ARGUMENT',
      message: `key ${key} refused`,
    };
  if (op.get)
    return {
      ...base,
      get: { found: true, value: Buffer.from(`v:${key}`), version: op.id, source: Source.SOURCE_MEMORY },
    };
  if (op.set) return { ...base, set: { version: 100 + op.id } };
  return { ...base, delete: { version: 200 + op.id } };
}

async function failureOf(p: Promise<unknown>): Promise<KvError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvError);
  return err as KvError;
}

let node: FakeNode;
let client: PipelineClient;
const open = (opts: PipelineClientOptions = {}): PipelineClient =>
  (client = new PipelineClient(node.address, { timeoutMs: 5000, ...opts }));

beforeEach(async () => {
  node = new FakeNode();
  await node.start();
});

afterEach(() => {
  client?.close();
  node.stop();
});

describe('PipelineClient', () => {
  it('sends the operations of one turn in one frame and matches results answered in reverse order', async () => {
    node.onFrame = (frame, call) => call.write({ results: frame.ops.map(answer).reverse() });
    const c = open();
    const [a, b, v, d] = await Promise.all([
      c.get('k1'),
      c.get('k2'),
      c.set('k3', 'x', { ttlMs: 500 }),
      c.delete('k4'),
    ]);
    expect(node.frames).toHaveLength(1);
    expect(
      node.frames[0]!.ops.map((o) => Object.keys(o).filter((k) => k !== 'id' && o[k as 'get'] !== undefined)),
    ).toEqual([['get'], ['get'], ['set'], ['delete']]);
    expect(node.frames[0]!.ops[2]!.set).toMatchObject({ key: 'k3', ttlMs: 500 });
    expect(a.value.toString()).toBe('v:k1');
    expect(b.value.toString()).toBe('v:k2');
    expect(v).toBe(100 + node.frames[0]!.ops[2]!.id);
    expect(d).toBe(200 + node.frames[0]!.ops[3]!.id);
  });

  it('settles each operation of a frame on its own: failures carry code and reason, the others succeed', async () => {
    const c = open();
    const results = await Promise.allSettled([c.set('good1', 'v'), c.set('bad1', 'v'), c.get('good2')]);
    expect(node.frames).toHaveLength(1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as KvError;
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.reason).toBe('INVALID_ARGUMENT');
    expect(err.details).toBe('key bad1 refused');
    expect(err.notSent).toBe(false);
  });

  it('sends a lone operation without waiting for others', async () => {
    const c = open();
    // Nothing else is ever issued: a client holding the frame for company
    // would hit the deadline instead.
    await expect(c.get('alone', { timeoutMs: 3000 })).resolves.toMatchObject({ found: true });
    expect(node.frames.map((f) => f.ops.length)).toEqual([1]);
  });

  it('bounds frames by operations and by bytes', async () => {
    const c = open({ maxOpsPerFrame: 3, maxFrameBytes: 300 });
    await Promise.all(Array.from({ length: 7 }, (_, i) => c.get(`k${i}`)));
    expect(node.frames.map((f) => f.ops.length)).toEqual([3, 3, 1]);
    node.frames.length = 0;
    // 100-byte values: at most two fit under 300 bytes with their framing.
    await Promise.all(Array.from({ length: 5 }, (_, i) => c.set(`k${i}`, Buffer.alloc(100))));
    expect(node.frames.map((f) => f.ops.length)).toEqual([2, 2, 1]);
  });

  it('fails an operation past its deadline while the others of its frame succeed; a sent write is in doubt', async () => {
    node.onFrame = (frame, call) =>
      call.write({ results: frame.ops.filter((o) => o.set?.key !== 'slow').map(answer) });
    const c = open();
    const slow = c.set('slow', 'v', { timeoutMs: 200 });
    const fast = c.get('fast');
    const err = await failureOf(slow);
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    expect(mayResend('write', err)).toBe(false);
    await expect(fast).resolves.toMatchObject({ found: true });
    expect(c.pending).toBe(0);
  });

  it('keeps at most maxInFlight operations outstanding; callers wait for a slot', async () => {
    const held: Array<() => void> = [];
    node.onFrame = (frame, call) => held.push(() => call.write({ results: frame.ops.map(answer) }));
    const c = open({ maxInFlight: 4 });
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => c.get(`k${i}`)));
    await node.framesReach(1);
    expect(c.pending).toBe(10);
    // Each answered frame lets the next waiters in, never more than 4 at once.
    held.shift()!();
    await node.framesReach(2);
    held.shift()!();
    await node.framesReach(3);
    held.shift()!();
    expect((await all).map((r) => r.value.toString())).toEqual(
      Array.from({ length: 10 }, (_, i) => `v:k${i}`),
    );
    expect(node.frames.map((f) => f.ops.length)).toEqual([4, 4, 2]);
  });

  it('fails what a broken stream carried (a write in doubt), never resends it, and opens a new stream for later operations', async () => {
    let first = true;
    node.onFrame = (frame, call) => {
      if (!first) return call.write({ results: frame.ops.map(answer) });
      first = false;
      call.emit('error', { code: status.UNAVAILABLE, details: 'node going away' });
    };
    const c = open();
    const [w, r] = await Promise.allSettled([c.set('w', 'v'), c.get('r')]);
    const werr = (w as PromiseRejectedResult).reason as KvError;
    const rerr = (r as PromiseRejectedResult).reason as KvError;
    expect([werr.code, mayResend('write', werr)]).toEqual([status.UNAVAILABLE, false]);
    expect([rerr.code, mayResend('read', rerr)]).toEqual([status.UNAVAILABLE, true]);
    expect(werr.details).toMatch(/may have been applied/);
    await expect(c.get('later')).resolves.toMatchObject({ found: true });
    expect(node.streams).toBe(2);
    // The failed write went out exactly once.
    expect(node.frames.flatMap((f) => f.ops).filter((o) => o.set?.key === 'w')).toHaveLength(1);
  });

  it('fails outstanding operations with CANCELLED when closed', async () => {
    node.onFrame = () => undefined;
    const c = open();
    const p = c.get('k');
    await node.framesReach(1);
    c.close();
    expect((await failureOf(p)).code).toBe(status.CANCELLED);
  });
});
