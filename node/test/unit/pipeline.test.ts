// The node's Pipeline stream over a real grpc-js server with a scripted
// coordinator: frame limits, per-operation errors, authentication, metrics
// and the bound on operations a stream runs at once.
import { EventEmitter, once } from 'node:events';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  KVServiceClient,
  type PipelineOp,
  type PipelineRequest,
  type PipelineResponse,
  type PipelineResult,
} from '../../src/gen/kvring/v1/kvring.js';
import type { GetResult } from '../../src/cluster/coordinator.js';
import { InvalidArgumentError, QuorumError, UnauthenticatedError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { NodeMetrics } from '../../src/metrics.js';
import { kvServiceDefinition, pipelineHandler, type PipelineDeps } from '../../src/server/pipeline.js';
import type { UnaryContext } from '../../src/server/unary.js';

/** A coordinator whose answers the test decides: keys "bad*" fail, keys "hold*" wait for release(). */
class ScriptedCoordinator extends EventEmitter {
  started = 0;
  private held: Array<() => void> = [];

  private async step(key: string): Promise<void> {
    this.started++;
    this.emit('started');
    if (key.startsWith('bad')) throw new QuorumError(`2 of 3 replicas unreachable for ${key}`);
    if (key.length > 8)
      throw new InvalidArgumentError(`key: ${key.length} bytes exceeds the key limit of 8 bytes`);
    if (key.startsWith('hold')) await new Promise<void>((r) => this.held.push(r));
  }

  release(n: number): void {
    for (const r of this.held.splice(0, n)) r();
  }

  async get(key: string): Promise<GetResult> {
    await this.step(key);
    return { found: true, value: Buffer.from(`v:${key}`), version: 7, source: 'memory' };
  }
  async set(key: string): Promise<number> {
    await this.step(key);
    return 8;
  }
  async delete(key: string): Promise<number> {
    await this.step(key);
    return 9;
  }

  async startedReach(n: number): Promise<void> {
    const signal = AbortSignal.timeout(5000);
    while (this.started < n) await once(this, 'started', { signal });
  }
}

let server: Server | undefined;
let client: KVServiceClient | undefined;
let coordinator: ScriptedCoordinator;
let metrics: NodeMetrics;

async function serve(
  deps: Partial<PipelineDeps> = {},
  authorize?: UnaryContext['authorize'],
): Promise<KVServiceClient> {
  coordinator = new ScriptedCoordinator();
  metrics = new NodeMetrics();
  const ctx: UnaryContext = { metrics, log: createLogger('silent'), authorize };
  server = new Server();
  const handler = pipelineHandler(ctx, {
    coordinator,
    limits: { maxBatch: 4, maxFrameBytes: 2048 },
    ...deps,
  });
  // Only Pipeline is exercised here (grpc-js answers the others UNIMPLEMENTED).
  server.addService(kvServiceDefinition, { pipeline: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  client = new KVServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return client;
}

afterEach(() => {
  client?.close();
  server?.forceShutdown();
});

/** A stream whose results the test reads as they arrive. */
class Stream {
  readonly results = new Map<number, PipelineResult>();
  private readonly events = new EventEmitter();
  error: ServiceError | undefined;
  readonly call: ClientDuplexStream<PipelineRequest, PipelineResponse>;

  constructor(c: KVServiceClient, md = new Metadata()) {
    this.call = c.pipeline(md);
    this.call.on('data', (res: PipelineResponse) => {
      for (const r of res.results) this.results.set(r.id, r);
      this.events.emit('results');
    });
    this.call.on('error', (e: ServiceError) => {
      this.error = e;
      this.events.emit('results');
    });
  }

  send(ops: PipelineOp[]): void {
    this.call.write({ ops });
  }

  async answered(ids: readonly number[]): Promise<PipelineResult[]> {
    const signal = AbortSignal.timeout(5000);
    while (!ids.every((id) => this.results.has(id)) && this.error === undefined)
      await once(this.events, 'results', { signal });
    return ids.map((id) => this.results.get(id)!);
  }
}

const get = (id: number, key: string): PipelineOp => ({ id, get: { key } });
const set = (id: number, key: string): PipelineOp => ({
  id,
  set: { key, value: Buffer.from('v'), ttlMs: 0, idempotencyKey: '' },
});

describe('the Pipeline stream', () => {
  it('answers each operation of a frame with its own result or error (code and reason)', async () => {
    const s = new Stream(await serve());
    s.send([get(1, 'a'), set(2, 'bad'), { id: 3, delete: { key: 'c' } }, { id: 4 }]);
    const [a, b, c, d] = await s.answered([1, 2, 3, 4]);
    expect(a).toMatchObject({ code: 0, get: { found: true, version: 7 } });
    expect(a!.get!.value.toString()).toBe('v:a');
    expect(b).toMatchObject({ code: status.UNAVAILABLE, reason: 'QUORUM_UNAVAILABLE' });
    expect(b!.message).toMatch(/replicas unreachable/);
    expect(c).toMatchObject({ code: 0, delete: { version: 9 } });
    expect(d).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_ARGUMENT' });
    expect(d!.message).toMatch(/one of get, set, delete must be set/);
    const counted = await metrics.requests.get();
    const okGets = counted.values.find((v) => v.labels.method === 'Pipeline.Get' && v.labels.code === 'OK');
    expect(okGets?.value).toBe(1);
  });

  it('refuses every operation of a frame with too many operations, naming the limit, and keeps serving', async () => {
    const s = new Stream(await serve());
    s.send([1, 2, 3, 4, 5].map((i) => get(i, `k${i}`)));
    const refused = await s.answered([1, 2, 3, 4, 5]);
    for (const r of refused) {
      expect(r).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'LIMIT_EXCEEDED',
        metadata: { field: 'frame' },
      });
      expect(r.message).toBe(
        'frame: 5 operations exceeds the limit of 4 operations per frame (KVRING_MAX_BATCH)',
      );
    }
    expect(coordinator.started).toBe(0);
    s.send([get(6, 'k6')]);
    expect((await s.answered([6]))[0]).toMatchObject({ code: 0 });
  });

  it('refuses every operation of a frame over the byte limit, naming it, and keeps serving', async () => {
    const s = new Stream(await serve());
    s.send([
      { id: 1, set: { key: 'big', value: Buffer.alloc(4096), ttlMs: 0, idempotencyKey: '' } },
      get(2, 'small'),
    ]);
    for (const r of await s.answered([1, 2])) {
      expect(r).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'LIMIT_EXCEEDED',
        metadata: { field: 'frame' },
      });
      expect(r.message).toMatch(
        /^frame: \d+ bytes exceeds the frame limit of 2048 bytes \(KVRING_MAX_FRAME_BYTES\)$/,
      );
    }
    s.send([get(3, 'k3'), get(4, 'longer-than-8')]);
    const [ok, tooLong] = await s.answered([3, 4]);
    expect(ok).toMatchObject({ code: 0 });
    expect(tooLong).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_ARGUMENT' });
  });

  it('stops reading frames while a stream runs maxInFlight operations', async () => {
    const s = new Stream(await serve({ maxInFlight: 5 }));
    s.send([1, 2, 3, 4].map((i) => get(i, `hold${i}`)));
    s.send([5, 6, 7, 8].map((i) => get(i, `hold${i}`)));
    s.send([9, 10, 11, 12].map((i) => get(i, `hold${i}`)));
    // Two frames in: 8 operations run, at or past the bound of 5.
    await coordinator.startedReach(8);
    coordinator.release(3);
    await s.answered([1, 2, 3]);
    // 5 still run: the third frame, sent long before, is still unread.
    expect(coordinator.started).toBe(8);
    coordinator.release(1);
    await coordinator.startedReach(12);
    coordinator.release(8);
    expect((await s.answered([5, 6, 7, 8, 9, 10, 11, 12])).every((r) => r.code === 0)).toBe(true);
  });

  it('refuses a stream without the token like a unary call', async () => {
    const expected = new Metadata();
    expected.set('authorization', 'Bearer t0ken');
    const s = new Stream(
      await serve({}, (call) =>
        call.metadata.get('authorization')[0] === 'Bearer t0ken'
          ? undefined
          : new UnauthenticatedError('invalid token'),
      ),
    );
    s.send([get(1, 'a')]);
    await s.answered([1]);
    expect(s.error?.code).toBe(status.UNAUTHENTICATED);
    expect(coordinator.started).toBe(0);
    const ok = new Stream(client!, expected);
    ok.send([get(2, 'a')]);
    expect((await ok.answered([2]))[0]).toMatchObject({ code: 0 });
  });
});
