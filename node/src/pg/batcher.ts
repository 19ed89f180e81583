// Group commit: writes that arrive while a flush is in flight wait and leave
// together in the next one. Self-clocking, with no timer: when nothing is in
// flight a write leaves on the next turn of the event loop (setImmediate, so
// that everything that arrived in the same I/O poll shares the flush); under
// load, each finished flush starts the next one with whatever has queued
// meanwhile. So batches grow with load and latency stays one round trip
// when idle.

import type { Attributes } from '@opentelemetry/api';
import type { FlushTracer } from '../tracing/flush.js';
import type { SpanContext } from '../tracing/tracer.js';

export interface BatcherOptions {
  /** Most items in one flush. */
  readonly maxItems: number;
  /** Most bytes (as counted by `sizeOf`) in one flush; a single larger item still goes alone. */
  readonly maxBytes: number;
  /** Flushes in flight at once (1 = strictly one after the other). */
  readonly maxInFlight: number;
  /** Set when tracing is on: a span per flush, linked to the writes it carried. */
  readonly tracer?: FlushTracer;
  /** The flush span's attributes (e.g. the database system). */
  readonly spanAttributes?: Attributes;
}

interface Queued<Op, R> {
  readonly op: Op;
  readonly bytes: number;
  readonly resolve: (r: R) => void;
  readonly reject: (e: unknown) => void;
  /** The submitter's span (tracing on and sampled only). */
  readonly span?: SpanContext;
}

/**
 * `flush` receives a batch and returns one result per item, in order; if it
 * throws, every item of that batch is rejected with what it threw.
 */
export class GroupCommitBatcher<Op, R> {
  private queue: Queued<Op, R>[] = [];
  private inFlightCount = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Flushes started and items they carried, for tests and figures. */
  readonly stats = { flushes: 0, items: 0 };

  constructor(
    private readonly flush: (ops: readonly Op[]) => Promise<readonly R[]>,
    private readonly options: BatcherOptions,
    private readonly sizeOf: (op: Op) => number = () => 0,
  ) {
    if (options.maxItems < 1 || options.maxInFlight < 1)
      throw new Error('batcher: maxItems and maxInFlight must be >= 1');
  }

  submit(op: Op): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const span = this.options.tracer?.capture();
      this.queue.push({ op, bytes: this.sizeOf(op), resolve, reject, span });
      this.schedule();
    });
  }

  /** Items waiting for a flush. */
  get pending(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Resolves once nothing is queued or in flight (every submitted item settled). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlightCount >= this.options.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startFlushes();
    });
  }

  private startFlushes(): void {
    while (this.queue.length > 0 && this.inFlightCount < this.options.maxInFlight) {
      const batch = this.take();
      this.inFlightCount++;
      this.stats.flushes++;
      this.stats.items += batch.length;
      void this.run(batch);
    }
  }

  private take(): Queued<Op, R>[] {
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < this.options.maxItems) {
      const b = this.queue[n]!.bytes;
      if (n > 0 && bytes + b > this.options.maxBytes) break;
      bytes += b;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async run(batch: Queued<Op, R>[]): Promise<void> {
    try {
      const ops = batch.map((q) => q.op);
      const { tracer } = this.options;
      const results = await (tracer === undefined
        ? this.flush(ops)
        : tracer.around(
            batch.map((q) => q.span),
            { ...this.options.spanAttributes, 'kvring.batch.size': ops.length },
            () => this.flush(ops),
          ));
      if (results.length !== batch.length)
        throw new Error(`group commit returned ${results.length} results for ${batch.length} writes`);
      batch.forEach((q, i) => q.resolve(results[i]!));
    } catch (err) {
      for (const q of batch) q.reject(err);
    } finally {
      this.inFlightCount--;
      this.schedule();
      if (this.queue.length === 0 && this.inFlightCount === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}

/**
 * Splits a batch into rounds so that no round holds a key twice (PostgreSQL
 * refuses a statement that touches one row twice): the n-th write of a key
 * goes to round n. Returns indices into `keys`, each round in batch order, so
 * successive writes of a key land in successive statements and get
 * increasing versions.
 */
export function splitRounds(keys: readonly string[]): number[][] {
  const seen = new Map<string, number>();
  const rounds: number[][] = [];
  keys.forEach((key, i) => {
    const r = seen.get(key) ?? 0;
    seen.set(key, r + 1);
    (rounds[r] ??= []).push(i);
  });
  return rounds;
}
