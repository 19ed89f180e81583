// The TypeScript client of kvring. Given addresses or DNS names (a
// Kubernetes headless Service stands for every pod), it keeps one channel
// per node address, learns the ring from ClusterInfo and sends each key
// straight to one of its replicas (the coordinator then saves a network hop
// for its local replica), and fails over to another node when retry.ts
// allows. Routing and discovery live in router.ts, endpoints.ts, pool.ts.
import {
  Metadata,
  credentials as grpcCredentials,
  status,
  type CallOptions,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { connected, neverSent } from './connect.js';
import { Endpoints } from './endpoints.js';
import { fromServiceError, type KvError } from './errors.js';
import {
  KVServiceClient,
  MemberState,
  Source,
  type ClusterInfoResponse,
  type DrainResponse,
} from './gen/kvring/v1/kvring.js';
import { ChannelPool, type Channel } from './pool.js';
import { SERVICE_CONFIG, mayResend, type CallKind } from './retry.js';
import { Router } from './router.js';
import { tracedCall } from './tracing.js';
import { parseTarget, systemResolver, type AddressResolver } from './targets.js';

export { MemberState, Source };
export type { ClusterInfoResponse, DrainResponse };
export type { AddressResolver } from './targets.js';

export interface ClientOptions {
  /**
   * Send each key to one of its replicas, learned from ClusterInfo. Default:
   * on, unless the client was given a single IP address (a port-forward, or
   * one node chosen on purpose), which it then talks to alone.
   */
  readonly ringAware?: boolean;
  /** Per-call deadline in ms, failovers included (default 10 s). */
  readonly timeoutMs?: number;
  /** Bearer token when the nodes require authentication. */
  readonly token?: string;
  readonly credentials?: ChannelCredentials;
  /**
   * Extra gRPC channel options, e.g. `grpc.ssl_target_name_override` when
   * nodes are dialled by IP but their certificate names a DNS name.
   */
  readonly channelOptions?: Readonly<Record<string, string | number>>;
  /** Resolves DNS names to addresses (default: the system resolver). */
  readonly resolver?: AddressResolver;
  /** Clock for backoffs and rate limits, in ms (default Date.now). */
  readonly now?: () => number;
  /** How often DNS names are resolved again (default 30 s). */
  readonly resolveIntervalMs?: number;
  /** How often the ring hash is checked (default 10 s). */
  readonly ringCheckIntervalMs?: number;
  /** How long a failing address is avoided at first; doubles per consecutive failure (default 1 s). */
  readonly downBackoffMs?: number;
  /**
   * How long a call waits for a connection before trying another node
   * (default 1 s; the last node a call can try gets what is left of its
   * deadline). A pod that was deleted leaves an address nothing answers
   * for: the connection attempt hangs until the host gives up (about 3 s
   * on a Linux bridge), which must not cost the whole call.
   */
  readonly connectTimeoutMs?: number;
}

export interface GetResult {
  readonly found: boolean;
  readonly value: Buffer;
  readonly version: number;
  readonly source: Source;
}

const CHANNEL_OPTIONS = {
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.service_config': SERVICE_CONFIG,
};
/** Least time between two ring checks or re-resolutions that failures trigger. */
const MIN_REFRESH_MS = 1000;

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

export class KvClient {
  private readonly md = new Metadata();
  private readonly creds: ChannelCredentials;
  private readonly channelOptions: Record<string, string | number>;
  private readonly endpoints: Endpoints;
  private readonly pool: ChannelPool;
  private readonly router: Router;

  constructor(
    addresses: string | readonly string[],
    private readonly opts: ClientOptions = {},
  ) {
    const given = typeof addresses === 'string' ? addresses.split(',').map((a) => a.trim()) : [...addresses];
    if (given.length === 0 || given.some((a) => !a)) throw new Error('KvClient: no node address given');
    if (opts.token) this.md.set('authorization', `Bearer ${opts.token}`);
    this.creds = opts.credentials ?? grpcCredentials.createInsecure();
    this.channelOptions = { ...CHANNEL_OPTIONS, ...opts.channelOptions };
    const now = opts.now ?? Date.now;
    this.endpoints = new Endpoints(given, {
      resolver: opts.resolver ?? systemResolver,
      now,
      minIntervalMs: MIN_REFRESH_MS,
      onChange: () => this.router.endpointsChanged(),
    });
    this.pool = new ChannelPool({
      dial: (a) => this.dial(a),
      now,
      downBackoffMs: opts.downBackoffMs ?? 1000,
    });
    const pinned = given.length === 1 && parseTarget(given[0]!).literal;
    this.router = new Router(this.endpoints, this.pool, {
      ringAware: opts.ringAware ?? !pinned,
      now,
      ringCheckMs: opts.ringCheckIntervalMs ?? 10_000,
      resolveMs: opts.resolveIntervalMs ?? 30_000,
      minCheckMs: MIN_REFRESH_MS,
      fetchInfo: (a) => this.callOnce(a, 'clusterInfo', {}, Date.now() + this.timeoutMs()),
    });
  }

  async get(key: string): Promise<GetResult> {
    const r = await this.call('get', { key }, key);
    return { found: r.found, value: r.value, version: r.version, source: r.source };
  }

  /** expectedVersion: compare-and-set (0 = only if absent); idempotencyKey: at most once (see kvring.proto). */
  async set(
    key: string,
    value: Buffer | string,
    opts: { ttlMs?: number; expectedVersion?: number; idempotencyKey?: string } = {},
  ): Promise<number> {
    const r = await this.call(
      'set',
      {
        key,
        value: toBuffer(value),
        ttlMs: opts.ttlMs ?? 0,
        expectedVersion: opts.expectedVersion,
        idempotencyKey: opts.idempotencyKey ?? '',
      },
      key,
    );
    return r.version;
  }

  async delete(key: string, opts: { expectedVersion?: number } = {}): Promise<number> {
    return (await this.call('delete', { key, expectedVersion: opts.expectedVersion }, key)).version;
  }

  async mget(
    keys: readonly string[],
  ): Promise<Array<{ key: string; found: boolean; value: Buffer; version: number }>> {
    return (await this.call('mGet', { keys: [...keys] }, undefined)).items;
  }

  async mset(
    entries: ReadonlyArray<{ key: string; value: Buffer | string; ttlMs?: number }>,
  ): Promise<Array<{ key: string; version: number; code: number; message: string; reason: string }>> {
    const req = {
      entries: entries.map((e) => ({ key: e.key, value: toBuffer(e.value), ttlMs: e.ttlMs ?? 0 })),
    };
    return (await this.call('mSet', req, undefined)).results;
  }

  /** One node's view: the node at `address` (no failover), or any node. */
  async clusterInfo(address?: string): Promise<ClusterInfoResponse> {
    if (address !== undefined)
      return this.callOnce(address, 'clusterInfo', {}, Date.now() + this.timeoutMs(), this.md, true);
    return this.call('clusterInfo', {}, undefined);
  }

  /** Learns the ring from a node now (it is also learnt in the background and checked on a timer). */
  async refreshRing(): Promise<void> {
    await this.endpoints.ready();
    await this.router.checkRing();
  }

  /** Resolves the DNS names and reads the ring again now (after a known change, for instance). */
  async refresh(): Promise<void> {
    await this.router.refresh();
  }

  /** The ring hash the client routes by, or undefined while it routes to any node. */
  get ringHash(): string | undefined {
    return this.router.ringHash;
  }

  close(): void {
    this.router.close();
    this.pool.close();
  }

  private timeoutMs(): number {
    return this.opts.timeoutMs ?? 10_000;
  }

  private dial(address: string): KVServiceClient {
    // Dialled by IP for a DNS name: TLS checks the name, as it would have
    // had the name been dialled (unless the caller said otherwise).
    const name = this.endpoints.nameOf(address);
    const options =
      name === undefined || 'grpc.ssl_target_name_override' in this.channelOptions
        ? this.channelOptions
        : { ...this.channelOptions, 'grpc.ssl_target_name_override': name };
    return new KVServiceClient(address, this.creds, options);
  }

  /**
   * One call, sent to node after node (the key's replicas first) only as
   * retry.ts allows: a read when the node was unavailable, a write only
   * when the failure proves it was not applied. The deadline covers every
   * attempt. Administrative calls are not made here (admin.ts).
   */
  private call<M extends KvMethod>(
    method: M,
    req: RequestOf<M>,
    key: string | undefined,
  ): Promise<ResponseOf<M>> {
    return tracedCall(RPC_NAMES[method], key, this.md, (md) => this.attempts(method, req, key, md));
  }

  private async attempts<M extends KvMethod>(
    method: M,
    req: RequestOf<M>,
    key: string | undefined,
    md: Metadata,
  ): Promise<ResponseOf<M>> {
    const deadline = Date.now() + this.timeoutMs();
    await this.router.ready();
    let last: KvError | undefined;
    const plan = this.router.plan(key);
    for (const [i, address] of plan.entries()) {
      if (last !== undefined && Date.now() >= deadline) break;
      try {
        const res = await this.callOnce(address, method, req, deadline, md, i === plan.length - 1);
        this.router.succeeded(address);
        return res;
      } catch (err) {
        last = err as KvError;
        this.observe(last);
        if (!mayResend(KINDS[method], last)) throw last;
      }
    }
    // router.ready() guarantees at least one address, so one attempt was made.
    throw last!;
  }

  /** What a failure says about its node and the cluster (routing only; retry.ts decides resends). */
  private observe(e: KvError): void {
    if (e.notSent || (e.code === UNAVAILABLE && NODE_GONE.has(e.reason))) this.router.nodeFailed(e.address);
    else if (e.code === DEADLINE_EXCEEDED || VIEW_MOVED.has(e.reason)) this.router.viewMayHaveMoved();
  }

  private async callOnce<M extends KvMethod>(
    address: string,
    method: M,
    req: RequestOf<M>,
    deadline: number,
    md: Metadata = this.md,
    lastChoice = false,
  ): Promise<ResponseOf<M>> {
    const ch: Channel = this.pool.acquire(address);
    try {
      const connectBy = lastChoice
        ? deadline
        : Math.min(deadline, Date.now() + (this.opts.connectTimeoutMs ?? 1000));
      await connected(ch.kv, address, connectBy);
      // The generated client's methods, looked up by name (the method is
      // called with its client as `this`).
      const fn = (ch.kv as unknown as Record<KvMethod, Unary<RequestOf<M>, ResponseOf<M>>>)[method];
      return await new Promise<ResponseOf<M>>((resolve, reject) => {
        fn.call(ch.kv, req, md, { deadline }, (err, res) => {
          if (err) reject(fromServiceError(err, address, neverSent(err)));
          else resolve(res);
        });
      });
    } finally {
      this.pool.release(ch);
    }
  }
}

const UNAVAILABLE: number = status.UNAVAILABLE;
const DEADLINE_EXCEEDED: number = status.DEADLINE_EXCEEDED;
/** The node itself cannot serve: its connection failed or broke, or it is shutting down. */
const NODE_GONE: ReadonlySet<string> = new Set(['UNAVAILABLE', 'SHUTTING_DOWN']);
/** The node serves but lacks peers: membership may have changed. */
const VIEW_MOVED: ReadonlySet<string> = new Set(['QUORUM_UNAVAILABLE', 'PEER_UNAVAILABLE', 'WRITE_IN_DOUBT']);

type KvMethod = 'get' | 'set' | 'delete' | 'mGet' | 'mSet' | 'clusterInfo';
const KINDS: Readonly<Record<KvMethod, CallKind>> = {
  get: 'read',
  mGet: 'read',
  clusterInfo: 'read',
  set: 'write',
  delete: 'write',
  mSet: 'write',
};
// The request and response types of each method, read off the generated client.
type RequestOf<M extends KvMethod> = Parameters<KVServiceClient[M]>[0];
type ResponseOf<M extends KvMethod> = KVServiceClient[M] extends (
  req: never,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: infer R) => void,
) => unknown
  ? R
  : never;

/** The RPC each method calls, for its client span's name. */
const RPC_NAMES: Readonly<Record<KvMethod, string>> = {
  get: 'Get',
  set: 'Set',
  delete: 'Delete',
  mGet: 'MGet',
  mSet: 'MSet',
  clusterInfo: 'ClusterInfo',
};

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}
