// Where the load generator's workers run: on this thread (the default), or
// spread over worker threads when one event loop cannot issue requests as
// fast as the target answers them (each thread has its own clients and
// connections, and a share of the workers and of the keys).
import { Worker } from 'node:worker_threads';
import type { LatencyHistogram } from './histogram.js';
import {
  KeySet,
  LoadClients,
  mergeResults,
  runLoad,
  type LoadResult,
  type LoadTargetOptions,
  type OpKind,
} from './load.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './load-worker.js';

export interface PhaseSpec {
  readonly op: OpKind;
  readonly ops: number;
  readonly valueSize: number;
  readonly maxDurationMs?: number;
  readonly maxErrors?: number;
  readonly signal?: AbortSignal;
}

export interface LoadDriver {
  /** Opens the connections (and learns the ring) before anything is timed. */
  warmUp(): Promise<void>;
  run(spec: PhaseSpec): Promise<LoadResult>;
  close(): Promise<void>;
}

export function createDriver(target: LoadTargetOptions, keys: KeySet, threads = 1): LoadDriver {
  return threads <= 1 ? new InProcessDriver(target, keys) : new ThreadedDriver(target, keys, threads);
}

class InProcessDriver implements LoadDriver {
  private readonly clients: LoadClients;

  constructor(
    target: LoadTargetOptions,
    private readonly keys: KeySet,
  ) {
    this.clients = new LoadClients(target);
  }

  warmUp(): Promise<void> {
    return this.clients.warmUp();
  }

  run(spec: PhaseSpec): Promise<LoadResult> {
    return runLoad(this.clients, { ...spec, keys: this.keys });
  }

  close(): Promise<void> {
    this.clients.close();
    return Promise.resolve();
  }
}

/** Splits `total` into `parts` integers differing by at most one (the first ones larger). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

class ThreadedDriver implements LoadDriver {
  private readonly workers: Worker[];
  private readonly pending = new Map<
    number,
    { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;

  constructor(target: LoadTargetOptions, keys: KeySet, threads: number) {
    const n = Math.max(1, Math.min(threads, target.concurrency));
    this.workers = split(target.concurrency, n).map((concurrency) => {
      const init: WorkerInit = {
        target: { ...target, concurrency },
        prefix: keys.prefix,
        keySize: keys.size,
      };
      const w = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: init });
      w.on('message', (reply: WorkerReply) => {
        const p = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.type === 'error') p?.reject(new Error(reply.message));
        else p?.resolve(reply);
      });
      w.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      return w;
    });
  }

  private ask(w: Worker, req: Omit<WorkerRequest, 'id'>): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  async warmUp(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.ask(w, { type: 'warmUp' })));
  }

  async run(spec: PhaseSpec): Promise<LoadResult> {
    const { signal, ...phase } = spec;
    const onAbort = (): void => {
      for (const w of this.workers) w.postMessage({ type: 'stop', id: 0 });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let firstOp = 0;
      const shares = split(spec.ops, this.workers.length);
      const replies = await Promise.all(
        this.workers.map((w, i) => {
          const ops = shares[i]!;
          const req = { type: 'run' as const, phase: { ...phase, ops, firstOp, keySpace: spec.ops } };
          firstOp += ops;
          return ops > 0 ? this.ask(w, req) : Promise.resolve(undefined);
        }),
      );
      const parts: Array<{ result: LoadResult; histogram: LatencyHistogram }> = [];
      for (const r of replies)
        if (r?.type === 'result') parts.push({ result: r.result, histogram: r.histogram });
      return mergeResults(parts, spec.ops);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
