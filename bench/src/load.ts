// The load generator: N concurrent workers (async loops on one event loop)
// issue SETs or GETs through a client (clients.ts: kvring unary, kvring
// pipelined, Redis) against one or more addresses, recording each
// successful operation's latency.
//
// Connections: grpc-js shares one HTTP/2 connection per address between
// every client created with the same options (its global subchannel pool),
// so "one KvClient per worker" and "one shared KvClient" differ only in the
// client-side objects: with 50 workers and 3 nodes both modes hold exactly
// 3 connections (checked with ss). Against the no-op server (4 alternating
// runs of 20,000 ops each) the shared client did ~10% more ops/s at ~10%
// less load-generator CPU per op; against a 3-node cluster the difference
// was within the machine's noise. So the shared client is the default, and
// `clients: 'per-worker'` stays available to compare.
import { randomBytes } from 'node:crypto';
import { KvClientError } from '@kvring/client';
import { makeClient, type ClientTarget, type LoadClient } from './clients.js';
import {
  latencyHistogram,
  latencySnapshot,
  recordLatency,
  type HistogramSnapshot,
  type LatencyHistogram,
} from './histogram.js';
import { statusName } from '@kvring/format/status-names';

export type OpKind = 'set' | 'get';
export type ClientMode = 'shared' | 'per-worker';

export interface LoadTargetOptions extends ClientTarget {
  /** Addresses (host:port); requests are spread over them round-robin (kvring unary). */
  readonly addresses: readonly string[];
  readonly clients?: ClientMode;
  /** Workers (concurrent operations in flight); decides how many clients per-worker mode makes. */
  readonly concurrency: number;
}

/** The clients a load run uses, made once and kept across phases (connections stay warm). */
export class LoadClients {
  private readonly clients: LoadClient[];

  constructor(readonly opts: LoadTargetOptions) {
    if (opts.addresses.length === 0) throw new Error('load: no address given');
    if (!(opts.concurrency >= 1)) throw new Error('load: concurrency must be at least 1');
    const count = opts.clients === 'per-worker' ? opts.concurrency : 1;
    this.clients = Array.from({ length: count }, () => makeClient(opts));
  }

  /** The client worker `i` uses. */
  forWorker(i: number): LoadClient {
    return this.clients[i % this.clients.length]!;
  }

  /** Opens every connection before anything is timed. Throws the first failure: a target that cannot answer this cannot be benchmarked. */
  async warmUp(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.warmUp()));
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
  /** Operation i (0 <= i < ops) uses `keys.key((firstOp + i) % keySpace)`. */
  readonly keys: KeySet;
  /** Default 0; threads of one load each take their own range. */
  readonly firstOp?: number;
  /** Default firstOp + ops (every operation its own key). */
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
  return (await runLoadKeepingHistogram(clients, opts)).result;
}

/** runLoad, also giving the latency histogram itself (to merge the results of several threads). */
export async function runLoadKeepingHistogram(
  clients: LoadClients,
  opts: LoadPhaseOptions,
): Promise<{ result: LoadResult; histogram: LatencyHistogram }> {
  const concurrency = opts.concurrency ?? clients.opts.concurrency;
  const firstOp = opts.firstOp ?? 0;
  const keySpace = opts.keySpace ?? firstOp + opts.ops;
  if (!(opts.ops >= 1)) throw new Error('load: ops must be at least 1');
  if (keySpace > opts.keys.capacity)
    throw new Error(`load: ${keySpace} keys do not fit in ${opts.keys.size}-byte keys`);
  const value = randomBytes(opts.valueSize);
  const hist = latencyHistogram();
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
      const key = opts.keys.key((firstOp + i) % keySpace);
      const t0 = performance.now();
      try {
        if (opts.op === 'set') {
          await client.set(key, value);
        } else if (!(await client.get(key))) {
          notFound++;
        }
        const t1 = performance.now();
        recordLatency(hist, (t1 - t0) * 1000);
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
  const result = summarize(
    opts.op,
    hist,
    { errors, errorsByCode, firstError, notFound, elapsedMs },
    opts.ops,
  );
  return { result, histogram: hist };
}

interface Counts {
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly firstError: string | undefined;
  readonly notFound: number;
  readonly elapsedMs: number;
}

function summarize(op: OpKind, hist: LatencyHistogram, c: Counts, issued: number): LoadResult {
  const ok = hist.count;
  return {
    op,
    ok,
    errors: c.errors,
    errorsByCode: c.errorsByCode,
    firstError: c.firstError,
    notFound: c.notFound,
    elapsedMs: c.elapsedMs,
    opsPerSec: c.elapsedMs > 0 ? (ok * 1000) / c.elapsedMs : 0,
    latencyUs: latencySnapshot(hist),
    truncated: ok + c.errors < issued,
  };
}

/**
 * One result from the parts of a phase that ran at the same time (threads):
 * counts added, histograms merged, and the rate over the longest part's time.
 */
export function mergeResults(
  parts: ReadonlyArray<{ result: LoadResult; histogram: LatencyHistogram }>,
  issued: number,
): LoadResult {
  if (parts.length === 0) throw new Error('mergeResults: nothing to merge');
  const hist = latencyHistogram();
  const errorsByCode: Record<string, number> = {};
  for (const p of parts) {
    hist.add(p.histogram);
    for (const [code, n] of Object.entries(p.result.errorsByCode))
      errorsByCode[code] = (errorsByCode[code] ?? 0) + n;
  }
  return summarize(
    parts[0]!.result.op,
    hist,
    {
      errors: parts.reduce((n, p) => n + p.result.errors, 0),
      errorsByCode,
      firstError: parts.find((p) => p.result.firstError !== undefined)?.result.firstError,
      notFound: parts.reduce((n, p) => n + p.result.notFound, 0),
      elapsedMs: Math.max(...parts.map((p) => p.result.elapsedMs)),
    },
    issued,
  );
}
