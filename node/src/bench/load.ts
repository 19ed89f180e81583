// The load generator: N concurrent workers (async loops on one event loop)
// issue SETs or GETs through the kvring client library against one or more
// node addresses, recording each successful operation's latency.
//
// Connections: grpc-js shares one HTTP/2 connection per address between
// every client created with the same options (its global subchannel pool),
// so "one KvClient per worker" and "one shared KvClient" differ only in the
// client-side objects, not in the connections the server sees. The shared
// client is the default; `clients: 'per-worker'` is there to compare.
import { randomBytes } from 'node:crypto';
import { KvClient, KvClientError } from '../client/client.js';
import { LatencyHistogram, type HistogramSnapshot } from './histogram.js';
import { statusName } from './status-names.js';

export type OpKind = 'set' | 'get';
export type ClientMode = 'shared' | 'per-worker';

export interface LoadTargetOptions {
  /** Node client addresses (host:port); requests are spread over them round-robin. */
  readonly addresses: readonly string[];
  /** Send each key straight to one of its replicas (learned from ClusterInfo). */
  readonly ringAware?: boolean;
  readonly token?: string;
  /** Per-call deadline (default 10 s). */
  readonly timeoutMs?: number;
  readonly clients?: ClientMode;
  /** Workers (concurrent operations in flight); decides how many clients per-worker mode makes. */
  readonly concurrency: number;
}

/** The clients a load run uses, made once and kept across phases (connections stay warm). */
export class LoadClients {
  private readonly clients: KvClient[];

  constructor(readonly opts: LoadTargetOptions) {
    if (opts.addresses.length === 0) throw new Error('load: no address given');
    if (!(opts.concurrency >= 1)) throw new Error('load: concurrency must be at least 1');
    const count = opts.clients === 'per-worker' ? opts.concurrency : 1;
    this.clients = Array.from(
      { length: count },
      () =>
        new KvClient(opts.addresses, {
          ringAware: opts.ringAware ?? false,
          timeoutMs: opts.timeoutMs ?? 10_000,
          token: opts.token,
        }),
    );
  }

  /** The client worker `i` uses. */
  forWorker(i: number): KvClient {
    return this.clients[i % this.clients.length]!;
  }

  /**
   * Opens every connection before anything is timed (one ClusterInfo per
   * client and address) and, ring-aware, learns the ring. Throws the first
   * failure: a target that cannot answer this cannot be benchmarked.
   */
  async warmUp(): Promise<void> {
    await Promise.all(
      this.clients.map(async (c) => {
        for (const address of this.opts.addresses) await c.clusterInfo(address);
        if (this.opts.ringAware) await c.refreshRing();
      }),
    );
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

export interface LoadPhaseOptions {
  readonly op: OpKind;
  /** Operations to issue in total. */
  readonly ops: number;
  /** Concurrent workers (default: the clients' concurrency). */
  readonly concurrency?: number;
  /** Key i of the run is `keys.key(i % keySpace)` (default keySpace = ops). */
  readonly keys: KeySet;
  readonly keySpace?: number;
  /** Value bytes for SETs. */
  readonly valueSize: number;
  /** Stop issuing new operations after this long (the result says `truncated`). */
  readonly maxDurationMs?: number;
  /** Stop early when this many operations have failed (default: no limit). */
  readonly maxErrors?: number;
  /** Stops the phase from outside (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface LoadResult {
  readonly op: OpKind;
  /** Operations that succeeded. */
  readonly ok: number;
  readonly errors: number;
  /** Failed operations by gRPC status name. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** The first failure's message, to say what went wrong. */
  readonly firstError: string | undefined;
  /** GETs that answered found=false. */
  readonly notFound: number;
  readonly elapsedMs: number;
  /** Successful operations per second of wall time. */
  readonly opsPerSec: number;
  /** Latency of successful operations, in microseconds. */
  readonly latencyUs: HistogramSnapshot;
  /** True when the phase stopped before issuing every operation (deadline, errors or abort). */
  readonly truncated: boolean;
}

/** Fixed-width keys: a run prefix then a zero-padded index, `size` bytes in all. */
export class KeySet {
  private readonly digits: number;

  constructor(
    readonly prefix: string,
    readonly size: number,
  ) {
    this.digits = size - Buffer.byteLength(prefix);
    if (this.digits < 1) throw new Error(`key size ${size} leaves no room after the prefix "${prefix}"`);
  }

  /** A prefix no earlier run used (so runs against a live cluster do not overwrite each other's keys). */
  static random(size: number): KeySet {
    const prefix = `b${randomBytes(3)
      .toString('hex')
      .slice(0, Math.max(0, Math.min(5, size - 7)))}:`;
    return new KeySet(prefix, size);
  }

  /** How many distinct keys fit. */
  get capacity(): number {
    return 10 ** this.digits;
  }

  key(i: number): string {
    return this.prefix + String(i).padStart(this.digits, '0');
  }
}

/** Runs one phase: `ops` operations from `concurrency` workers; resolves when all are done. */
export async function runLoad(clients: LoadClients, opts: LoadPhaseOptions): Promise<LoadResult> {
  const concurrency = opts.concurrency ?? clients.opts.concurrency;
  const keySpace = opts.keySpace ?? opts.ops;
  if (!(opts.ops >= 1)) throw new Error('load: ops must be at least 1');
  if (keySpace > opts.keys.capacity)
    throw new Error(`load: ${keySpace} keys do not fit in ${opts.keys.size}-byte keys`);
  const value = randomBytes(opts.valueSize);
  const hist = new LatencyHistogram();
  const errorsByCode: Record<string, number> = {};
  let firstError: string | undefined;
  let errors = 0;
  let notFound = 0;
  let next = 0;
  let stopped = false;

  const started = performance.now();
  const deadline = opts.maxDurationMs === undefined ? Infinity : started + opts.maxDurationMs;
  const stop = (): void => {
    stopped = true;
  };
  opts.signal?.addEventListener('abort', stop, { once: true });

  const worker = async (w: number): Promise<void> => {
    const client = clients.forWorker(w);
    for (;;) {
      if (stopped) return;
      const i = next++;
      if (i >= opts.ops) return;
      const key = opts.keys.key(i % keySpace);
      const t0 = performance.now();
      try {
        if (opts.op === 'set') {
          await client.set(key, value);
        } else if (!(await client.get(key)).found) {
          notFound++;
        }
        const t1 = performance.now();
        hist.record((t1 - t0) * 1000);
        if (t1 > deadline) stopped = true;
      } catch (err) {
        errors++;
        const code = err instanceof KvClientError ? statusName(err.code) : 'CLIENT_ERROR';
        errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
        firstError ??= err instanceof KvClientError ? `${code}: ${err.details}` : String(err);
        if (opts.maxErrors !== undefined && errors >= opts.maxErrors) stopped = true;
        if (performance.now() > deadline) stopped = true;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  const elapsedMs = performance.now() - started;
  const ok = hist.count;
  return {
    op: opts.op,
    ok,
    errors,
    errorsByCode,
    firstError,
    notFound,
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (ok * 1000) / elapsedMs : 0,
    latencyUs: hist.snapshot(),
    truncated: ok + errors < opts.ops,
  };
}
