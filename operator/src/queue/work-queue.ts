// A work queue of keys (namespace/name), in the shape of client-go's
// rate-limited delaying queue:
// - a key added many times before a worker takes it is processed once
//   (the `dirty` set merges repeated events);
// - a key is never processed by two workers at once: added while being
//   processed, it waits in `dirty` and is queued again by done();
// - addAfter() schedules a key for later (the earliest request wins);
// - addRateLimited() schedules it after its backoff (see rate-limiter.ts),
//   forget() resets that backoff after a success.
import type { Clock, TimerHandle } from '../clock.js';
import type { RateLimiter } from './rate-limiter.js';

/** Hooks for metrics; every method is optional. */
export interface QueueObserver {
  depth?(n: number): void;
  added?(): void;
  retried?(): void;
  /** Seconds a key waited in the queue before a worker took it. */
  queueLatency?(seconds: number): void;
  /** Seconds between get() and done(). */
  workDuration?(seconds: number): void;
}

export class WorkQueue {
  private queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly enqueuedAt = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private shuttingDown = false;

  // Keys waiting for a time (addAfter / addRateLimited), and one timer for the earliest.
  private readonly delayed = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly rateLimiter: RateLimiter,
    private readonly observer: QueueObserver = {},
  ) {}

  /** Queues `key` now (merged with any pending add of the same key). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.observer.added?.();
    this.dirty.add(key);
    this.enqueuedAt.set(key, this.clock.now());
    if (this.processing.has(key)) return; // done() queues it again
    this.push(key);
  }

  /** Queues `key` after `ms`; if it is already waiting for an earlier time, that time stays. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing <= at) return;
    this.delayed.set(key, at);
    this.schedule();
  }

  /** Queues `key` after its backoff: call this when processing it failed. */
  addRateLimited(key: string): void {
    this.observer.retried?.();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets the backoff of `key`: call this when processing it succeeded. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /**
   * The next key to process, waiting for one if needed; undefined once the
   * queue shuts down. Every key returned must be passed to done().
   */
  get(): Promise<string | undefined> {
    const key = this.shift();
    if (key !== undefined) return Promise.resolve(key);
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.observer.workDuration?.((this.clock.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Keys waiting to be taken (not counting delayed or in-process ones). */
  len(): number {
    return this.queue.length - this.head;
  }

  /** Keys scheduled for later. */
  delayedLen(): number {
    return this.delayed.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out keys: waiting get() calls resolve with undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Resolves once no key is being processed (after shutDown: once the workers finished). */
  drained(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.take(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.observer.depth?.(this.len());
  }

  private shift(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++]!;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.take(key);
    this.observer.depth?.(this.len());
    return key;
  }

  private take(key: string): void {
    this.dirty.delete(key);
    const now = this.clock.now();
    this.processing.set(key, now);
    const at = this.enqueuedAt.get(key);
    this.enqueuedAt.delete(key);
    if (at !== undefined) this.observer.queueLatency?.((now - at) / 1000);
  }

  private schedule(): void {
    let earliest = Infinity;
    for (const at of this.delayed.values()) earliest = Math.min(earliest, at);
    if (earliest === this.timerAt && this.timer) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = earliest;
    if (earliest === Infinity) return;
    this.timer = this.clock.setTimer(earliest - this.clock.now(), () => this.fireDelayed());
  }

  private fireDelayed(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    const due = [...this.delayed].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    for (const [key] of due) {
      this.delayed.delete(key);
      this.add(key);
    }
    this.schedule();
  }
}
