// The TypeScript client of kvring. It talks to any node; ring-aware mode
// learns the ring from ClusterInfo and sends each key straight to one of its
// replicas (the coordinator then saves a network hop for its local replica).
import {
  Metadata,
  credentials as grpcCredentials,
  type CallOptions,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { connected } from './connect.js';
import { fromServiceError, type KvError } from './errors.js';
import {
  KVServiceClient,
  MemberState,
  Source,
  type ClusterInfoResponse,
  type DrainResponse,
} from './gen/kvring/v1/kvring.js';
import { SERVICE_CONFIG, mayResend, type CallKind } from './retry.js';
import { Ring } from './ring/ring.js';

export { MemberState, Source };
export type { ClusterInfoResponse, DrainResponse };

export interface ClientOptions {
  /** Send each key to one of its replicas (learned from ClusterInfo). Default false. */
  readonly ringAware?: boolean;
  /** Per-call deadline in ms (default 10 s). */
  readonly timeoutMs?: number;
  /** Bearer token when the nodes require authentication. */
  readonly token?: string;
  readonly credentials?: ChannelCredentials;
  /**
   * Extra gRPC channel options, e.g. `grpc.ssl_target_name_override` when
   * nodes are dialled by IP but their certificate names a DNS name.
   */
  readonly channelOptions?: Readonly<Record<string, string | number>>;
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

interface Channel {
  readonly address: string;
  readonly kv: KVServiceClient;
}

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

export class KvClient {
  private readonly channels = new Map<string, Channel>();
  private readonly seeds: string[];
  private next = 0;
  private ring: Ring | undefined;
  private memberAddress = new Map<string, string>();
  private n = 3;
  private readonly md = new Metadata();
  private readonly avoidUntil = new Map<string, number>();
  private readonly creds: ChannelCredentials;
  private readonly channelOptions: Record<string, string | number>;

  constructor(
    addresses: string | readonly string[],
    private readonly opts: ClientOptions = {},
  ) {
    this.seeds = typeof addresses === 'string' ? addresses.split(',').map((a) => a.trim()) : [...addresses];
    if (this.seeds.length === 0 || this.seeds.some((a) => !a))
      throw new Error('KvClient: no node address given');
    if (opts.token) this.md.set('authorization', `Bearer ${opts.token}`);
    this.creds = opts.credentials ?? grpcCredentials.createInsecure();
    this.channelOptions = { ...CHANNEL_OPTIONS, ...opts.channelOptions };
  }

  async get(key: string): Promise<GetResult> {
    const ch = this.channelFor(key);
    const r = await this.call(ch, 'get', { key });
    return { found: r.found, value: r.value, version: r.version, source: r.source };
  }

  /** expectedVersion: compare-and-set (0 = only if absent); idempotencyKey: at most once (see kvring.proto). */
  async set(
    key: string,
    value: Buffer | string,
    opts: { ttlMs?: number; expectedVersion?: number; idempotencyKey?: string } = {},
  ): Promise<number> {
    const ch = this.channelFor(key);
    const r = await this.call(ch, 'set', {
      key,
      value: toBuffer(value),
      ttlMs: opts.ttlMs ?? 0,
      expectedVersion: opts.expectedVersion,
      idempotencyKey: opts.idempotencyKey ?? '',
    });
    return r.version;
  }

  async delete(key: string, opts: { expectedVersion?: number } = {}): Promise<number> {
    const ch = this.channelFor(key);
    return (await this.call(ch, 'delete', { key, expectedVersion: opts.expectedVersion })).version;
  }

  async mget(
    keys: readonly string[],
  ): Promise<Array<{ key: string; found: boolean; value: Buffer; version: number }>> {
    const ch = this.anyChannel();
    return (await this.call(ch, 'mGet', { keys: [...keys] })).items;
  }

  async mset(
    entries: ReadonlyArray<{ key: string; value: Buffer | string; ttlMs?: number }>,
  ): Promise<Array<{ key: string; version: number; code: number; message: string; reason: string }>> {
    const ch = this.anyChannel();
    const req = {
      entries: entries.map((e) => ({ key: e.key, value: toBuffer(e.value), ttlMs: e.ttlMs ?? 0 })),
    };
    return (await this.call(ch, 'mSet', req)).results;
  }

  async clusterInfo(address?: string): Promise<ClusterInfoResponse> {
    const ch = address ? this.channel(address) : this.anyChannel();
    return this.call(ch, 'clusterInfo', {});
  }

  /** Learns the ring from a node (ring-aware routing). */
  async refreshRing(): Promise<void> {
    const info = await this.clusterInfo();
    this.ring = new Ring(
      info.members.map((m) => m.name),
      { vnodes: info.vnodes },
    );
    this.n = info.replicationFactor;
    this.memberAddress = new Map(info.members.map((m) => [m.name, m.clientAddress]));
  }

  close(): void {
    for (const ch of this.channels.values()) ch.kv.close();
    this.channels.clear();
  }

  private channelFor(key: string): Channel {
    if (!this.opts.ringAware || this.ring === undefined) return this.anyChannel();
    // Spread keys over their replicas rather than always the primary.
    const prefs = this.ring.preferenceList(key, this.n);
    const name = prefs[(this.next++ & 0x7fffffff) % prefs.length]!;
    const address = this.memberAddress.get(name);
    return address ? this.channel(address) : this.anyChannel();
  }

  private anyChannel(): Channel {
    const now = Date.now();
    for (let i = 0; i < this.seeds.length; i++) {
      const address = this.seeds[(this.next++ & 0x7fffffff) % this.seeds.length]!;
      const avoid = this.avoidUntil.get(address);
      if (avoid === undefined || avoid < now) return this.channel(address);
    }
    return this.channel(this.seeds[(this.next++ & 0x7fffffff) % this.seeds.length]!);
  }

  private channel(address: string): Channel {
    let ch = this.channels.get(address);
    if (ch === undefined) {
      ch = { address, kv: new KVServiceClient(address, this.creds, this.channelOptions) };
      this.channels.set(address, ch);
    }
    return ch;
  }

  /**
   * One call, sent to other nodes (every node coordinates every key) only
   * as retry.ts allows: a read when the node was unavailable, a write only
   * when the failure proves it was not applied. A failed address is avoided
   * for a second. Administrative calls are not made here (admin.ts).
   */
  private async call<M extends KvMethod>(
    ch: Channel,
    method: M,
    req: RequestOf<M>,
    timeoutMs?: number,
  ): Promise<ResponseOf<M>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.callOnce(ch, method, req, timeoutMs);
      } catch (err) {
        const e = err as KvError;
        if (attempt + 1 >= this.seeds.length || !mayResend(KINDS[method], e)) throw err;
        this.avoidUntil.set(ch.address, Date.now() + 1000);
        ch = this.anyChannel();
      }
    }
  }

  private async callOnce<M extends KvMethod>(
    ch: Channel,
    method: M,
    req: RequestOf<M>,
    timeoutMs?: number,
  ): Promise<ResponseOf<M>> {
    const deadline = Date.now() + (timeoutMs ?? this.opts.timeoutMs ?? 10_000);
    await connected(ch.kv, ch.address, deadline);
    // The generated client's methods, looked up by name (the method is
    // called with its client as `this`).
    const fn = (ch.kv as unknown as Record<KvMethod, Unary<RequestOf<M>, ResponseOf<M>>>)[method];
    return new Promise<ResponseOf<M>>((resolve, reject) => {
      fn.call(ch.kv, req, this.md, { deadline }, (err, res) => {
        if (err) reject(fromServiceError(err, ch.address));
        else resolve(res);
      });
    });
  }
}

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

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}
