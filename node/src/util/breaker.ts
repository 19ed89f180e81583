// The circuit breaker for calls to a dependency that can go away (the legacy
// API), on cockatiel's (a maintained resilience library: circuit breaker,
// retry, timeout, bulkhead; MIT). While the dependency keeps failing, callers
// are turned away at once instead of each waiting for its own timeout, and
// the dependency gets room to recover:
//
//   closed    --failureThreshold consecutive failures-->  open
//   open      --openMs passed, next call-->               half-open (that call is the trial)
//   half-open --trial succeeds-->                         closed
//   half-open --trial fails-->                            open (for another openMs)
//
// Calls made while the trial is in flight wait for its outcome, then go
// through (it closed) or are rejected (it reopened). The open -> half-open
// step happens when a call asks, not on a timer: `state` stays 'open' until
// the first call after openMs. Time is cockatiel's clock, Date.now.
//
// What this module adds: the node's names for the states and their numbers
// on the breaker-state gauge, the checked options, and one change callback
// for metrics and logs.
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { CircuitBreakerPolicy } from 'cockatiel';

export type BreakerState = 'closed' | 'half-open' | 'open';

export interface BreakerOptions {
  /** Consecutive failures that open a closed breaker (default 5). */
  failureThreshold?: number;
  /** How long an open breaker rejects calls before a trial (default 10 s). */
  openMs?: number;
}

export const DEFAULT_FAILURE_THRESHOLD = 5;
export const DEFAULT_OPEN_MS = 10_000;

/** Numeric form of a state, as exported by the breaker-state gauge. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
};

// Isolated (held open by hand) is never used here; it rejects like open.
const STATE_NAME: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Open]: 'open',
  [CircuitState.Isolated]: 'open',
};

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly openMs: number;
  private readonly counter: ConsecutiveBreaker;
  private readonly policy: CircuitBreakerPolicy;

  /**
   * @param onChange called after every state change (for metrics and logs);
   *   it must not throw.
   */
  constructor(opts: BreakerOptions = {}, onChange?: (state: BreakerState, previous: BreakerState) => void) {
    this.failureThreshold = opts.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.openMs = opts.openMs ?? DEFAULT_OPEN_MS;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be an integer >= 1, got ${this.failureThreshold}`);
    }
    if (!Number.isFinite(this.openMs) || this.openMs < 0) {
      throw new RangeError(`openMs must be a number >= 0, got ${this.openMs}`);
    }
    this.counter = new ConsecutiveBreaker(this.failureThreshold);
    // Every rejection counts as a failure: the caller decides what is one
    // (a 404 is an answer, not a failure) by resolving or rejecting.
    this.policy = circuitBreaker(handleAll, { halfOpenAfter: this.openMs, breaker: this.counter });
    let previous: BreakerState = 'closed';
    this.policy.onStateChange((raw) => {
      const next = STATE_NAME[raw];
      if (next === previous) return;
      const was = previous;
      previous = next;
      onChange?.(next, was);
    });
  }

  get state(): BreakerState {
    return STATE_NAME[this.policy.state];
  }

  /** Failures seen since the last success. */
  get consecutiveFailures(): number {
    return this.counter.state;
  }

  /**
   * Runs `fn` unless the breaker is open, recording its outcome (a rejection
   * is a failure). While open it rejects with an error for which
   * `isBreakerOpen` is true, without calling `fn`.
   */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    return this.policy.execute(fn);
  }
}

/** Whether `err` is the breaker turning a call away (no call was made). */
export function isBreakerOpen(err: unknown): boolean {
  return err instanceof BrokenCircuitError;
}
