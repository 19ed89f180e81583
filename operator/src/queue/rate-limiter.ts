// How long a key waits before it is retried. Modelled on client-go's
// workqueue rate limiters: a per-key exponential backoff (a key that keeps
// failing waits longer and longer) combined with a global token bucket (a
// storm of failures across many keys cannot flood the API server).
import type { Clock } from '../clock.js';

export interface RateLimiter {
  /** Delay before `key` may be processed again; records one more failure. */
  when(key: string): number;
  /** Clears the failure history of `key` (it succeeded, or is gone). */
  forget(key: string): void;
  /** Failures recorded for `key` since the last forget. */
  numRequeues(key: string): number;
}

/** base * 2^failures, capped at max. */
export class ItemExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
  ) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long after it passed maxMs: the min caps it.
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * A token bucket refilled at `qps` up to `burst` tokens. A caller that finds
 * it empty reserves a future token and is told how long to wait, so waits
 * queue up fairly instead of everyone retrying at once.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    readonly qps: number,
    readonly burst: number,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.qps) * 1000);
  }

  forget(_key: string): void {}

  numRequeues(_key: string): number {
    return 0;
  }
}

/** The longest delay any of the limiters asks for. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.when(key));
    return max;
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(key));
    return max;
  }
}

export interface ControllerRateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
}

/**
 * The operator's default: per key 250ms doubling up to 5 minutes, and at most
 * 10 retries per second overall with bursts of 100.
 */
export function defaultControllerRateLimiter(
  clock: Clock,
  o: ControllerRateLimiterOptions = {},
): RateLimiter {
  return new MaxOfRateLimiter(
    new ItemExponentialRateLimiter(o.baseDelayMs ?? 250, o.maxDelayMs ?? 300_000),
    new TokenBucketRateLimiter(clock, o.qps ?? 10, o.burst ?? 100),
  );
}
