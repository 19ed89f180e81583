import { describe, expect, it } from '@jest/globals';
import { CircuitBreaker, type BreakerState } from '../../src/util/breaker.js';

function setup(failureThreshold = 3, openMs = 1000) {
  let t = 0;
  const changes: Array<[BreakerState, BreakerState]> = [];
  const breaker = new CircuitBreaker(
    { failureThreshold, openMs },
    () => t,
    (s, p) => changes.push([p, s]),
  );
  return {
    breaker,
    changes,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** One call through the breaker: whether it was let through. */
function call(breaker: CircuitBreaker, ok: boolean): boolean {
  if (!breaker.tryAcquire()) return false;
  if (ok) breaker.success();
  else breaker.failure();
  return true;
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and counts only consecutive failures', () => {
    const { breaker } = setup(3);
    expect(call(breaker, false)).toBe(true);
    expect(call(breaker, false)).toBe(true);
    expect(call(breaker, true)).toBe(true); // resets the run
    expect(call(breaker, false)).toBe(true);
    expect(call(breaker, false)).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(2);
  });

  it('opens after failureThreshold consecutive failures and rejects until openMs passed', () => {
    const { breaker, changes, advance } = setup(3, 1000);
    for (let i = 0; i < 3; i++) call(breaker, false);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual([['closed', 'open']]);
    expect(breaker.tryAcquire()).toBe(false);
    advance(999);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.state).toBe('open');
  });

  it('lets exactly one trial through when half-open; its success closes', () => {
    const { breaker, changes, advance } = setup(2, 1000);
    call(breaker, false);
    call(breaker, false);
    advance(1000);
    expect(breaker.tryAcquire()).toBe(true); // the trial
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(false); // others wait for the trial
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('reopens for another openMs when the trial fails', () => {
    const { breaker, advance } = setup(2, 1000);
    call(breaker, false);
    call(breaker, false);
    advance(1500);
    expect(call(breaker, false)).toBe(true);
    expect(breaker.state).toBe('open');
    advance(999); // counted from the failed trial, not the first opening
    expect(breaker.tryAcquire()).toBe(false);
    advance(1);
    expect(call(breaker, true)).toBe(true);
    expect(breaker.state).toBe('closed');
  });

  it('after closing again needs a full run of failures to reopen', () => {
    const { breaker, advance } = setup(3, 10);
    for (let i = 0; i < 3; i++) call(breaker, false);
    advance(10);
    call(breaker, true);
    call(breaker, false);
    call(breaker, false);
    expect(breaker.state).toBe('closed');
    call(breaker, false);
    expect(breaker.state).toBe('open');
  });

  it('ignores outcomes of calls that started before it opened', () => {
    const { breaker, advance } = setup(1, 1000);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failure(); // opens
    breaker.success(); // the straggler: does not cut the open period short
    expect(breaker.state).toBe('open');
    breaker.failure();
    advance(999);
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('uses the documented defaults: 5 failures, 10 s', () => {
    let t = 0;
    const breaker = new CircuitBreaker({}, () => t);
    for (let i = 0; i < 4; i++) call(breaker, false);
    expect(breaker.state).toBe('closed');
    call(breaker, false);
    expect(breaker.state).toBe('open');
    t = 9_999;
    expect(breaker.tryAcquire()).toBe(false);
    t = 10_000;
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('rejects nonsense options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(RangeError);
  });
});
