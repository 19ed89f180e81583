// A hand-driven Date for code whose clock is Date.now (cockatiel's circuit
// breaker). Only Date is faked: timers, microtasks and performance.now keep
// running, so real I/O (HTTP to the legacy API) works as usual.
import { jest } from '@jest/globals';

export interface FakeDate {
  /** Moves Date.now forward by `ms`. */
  advance(ms: number): void;
  /** Gives back the real Date. */
  restore(): void;
}

export function fakeDate(startMs = 1_000_000): FakeDate {
  jest.useFakeTimers({
    now: startMs,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
      'Temporal',
    ],
  });
  return {
    advance: (ms) => jest.setSystemTime(Date.now() + ms),
    restore: () => jest.useRealTimers(),
  };
}
