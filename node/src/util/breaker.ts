// A circuit breaker for calls to a dependency that can go away (the legacy
// API). While the dependency keeps failing, callers are turned away at once
// instead of each waiting for its own timeout, and the dependency gets room
// to recover:
//
//   closed    --failureThreshold consecutive failures-->  open
//   open      --openMs passed, next call-->               half-open (that call is the trial)
//   half-open --trial succeeds-->                         closed
//   half-open --trial fails-->                            open (for another openMs)
//
// The clock is injected so tests drive time by hand. The open -> half-open
// step happens when a call asks, not on a timer: `state` stays 'open' until
// the first call after openMs.

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

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly openMs: number;
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  /**
   * @param onChange called after every state change (for metrics and logs);
   *   it must not throw.
   */
  constructor(
    opts: BreakerOptions = {},
    private readonly now: () => number = Date.now,
    private readonly onChange?: (state: BreakerState, previous: BreakerState) => void,
  ) {
    this.failureThreshold = opts.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.openMs = opts.openMs ?? DEFAULT_OPEN_MS;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be an integer >= 1, got ${this.failureThreshold}`);
    }
    if (!Number.isFinite(this.openMs) || this.openMs < 0) {
      throw new RangeError(`openMs must be a number >= 0, got ${this.openMs}`);
    }
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Failures seen since the last success (reset when the breaker closes). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * Asks to make a call now. When it returns true the caller must report the
   * outcome with exactly one `success()` or `failure()`; when false the call
   * must not be made.
   */
  tryAcquire(): boolean {
    switch (this.current) {
      case 'closed':
        return true;
      case 'open':
        if (this.now() - this.openedAt < this.openMs) return false;
        this.trialInFlight = true;
        this.transition('half-open');
        return true;
      case 'half-open':
        // One trial at a time: the others are rejected as if still open.
        if (this.trialInFlight) return false;
        this.trialInFlight = true;
        return true;
    }
  }

  success(): void {
    this.failures = 0;
    // A success while open comes from a call started before the breaker
    // opened; it does not cut the open period short.
    if (this.current === 'half-open') {
      this.trialInFlight = false;
      this.transition('closed');
    }
  }

  failure(): void {
    switch (this.current) {
      case 'closed':
        this.failures++;
        if (this.failures >= this.failureThreshold) this.open();
        return;
      case 'half-open':
        this.failures++;
        this.open();
        return;
      case 'open':
        // A straggler started before the breaker opened: already accounted.
        return;
    }
  }

  private open(): void {
    this.openedAt = this.now();
    this.trialInFlight = false;
    this.transition('open');
  }

  private transition(next: BreakerState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    this.onChange?.(next, previous);
  }
}
