import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CircuitBreaker, isBreakerOpen, type BreakerState } from '../../src/util/breaker.js';
import { fakeDate, type FakeDate } from '../support/fake-date.js';

let clock: FakeDate;
beforeEach(() => {
  clock = fakeDate();
});
afterEach(() => clock.restore());

function setup(failureThreshold = 3, openMs = 1000) {
  const changes: Array<[BreakerState, BreakerState]> = [];
  const breaker = new CircuitBreaker({ failureThreshold, openMs }, (s, p) => changes.push([p, s]));
  return { breaker, changes };
}

type Outcome = 'ok' | 'failed' | 'rejected';

/** One call through the breaker, settled by `settle` (default: at once). */
async function call(
  breaker: CircuitBreaker,
  ok: boolean,
  settle: Promise<void> = Promise.resolve(),
): Promise<Outcome> {
  let made = false;
  try {
    await breaker.execute(async () => {
      made = true;
      await settle;
      if (!ok) throw new Error('dependency down');
    });
    return 'ok';
  } catch (err) {
    if (!isBreakerOpen(err)) return 'failed';
    expect(made).toBe(false); // a rejection never calls the dependency
    return 'rejected';
  }
}

async function calls(breaker: CircuitBreaker, ok: boolean, n: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < n; i++) out.push(await call(breaker, ok));
  return out;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('CircuitBreaker (cockatiel)', () => {
  it('stays closed below the threshold and counts only consecutive failures', async () => {
    const { breaker } = setup(3);
    expect(await calls(breaker, false, 2)).toEqual(['failed', 'failed']);
    expect(await call(breaker, true)).toBe('ok'); // resets the run
    expect(await calls(breaker, false, 2)).toEqual(['failed', 'failed']);
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(2);
  });

  it('opens after failureThreshold consecutive failures and rejects until openMs passed', async () => {
    const { breaker, changes } = setup(3, 1000);
    await calls(breaker, false, 3);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual([['closed', 'open']]);
    expect(await call(breaker, true)).toBe('rejected');
    clock.advance(999);
    expect(await call(breaker, true)).toBe('rejected');
    expect(breaker.state).toBe('open');
  });

  it('lets one trial through when half-open; calls during it wait, and go through when it succeeds', async () => {
    const { breaker, changes } = setup(2, 1000);
    await calls(breaker, false, 2);
    clock.advance(1000);
    const trialDone = deferred();
    const trial = call(breaker, true, trialDone.promise);
    expect(breaker.state).toBe('half-open');
    let waiterMade = false;
    const waiter = breaker.execute(() => {
      waiterMade = true;
      return Promise.resolve();
    });
    await Promise.resolve();
    expect(waiterMade).toBe(false); // held back while the trial runs
    trialDone.resolve();
    expect(await trial).toBe('ok');
    await waiter;
    expect(waiterMade).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('reopens for another openMs when the trial fails, rejecting the calls that waited for it', async () => {
    const { breaker } = setup(2, 1000);
    await calls(breaker, false, 2);
    clock.advance(1500);
    const trialDone = deferred();
    const trial = call(breaker, false, trialDone.promise);
    const waiter = call(breaker, true);
    trialDone.resolve();
    expect([await trial, await waiter]).toEqual(['failed', 'rejected']);
    expect(breaker.state).toBe('open');
    clock.advance(999); // counted from the failed trial, not the first opening
    expect(await call(breaker, true)).toBe('rejected');
    clock.advance(1);
    expect(await call(breaker, true)).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('after closing again needs a full run of failures to reopen', async () => {
    const { breaker } = setup(3, 10);
    await calls(breaker, false, 3);
    clock.advance(10);
    await call(breaker, true);
    await calls(breaker, false, 2);
    expect(breaker.state).toBe('closed');
    await call(breaker, false);
    expect(breaker.state).toBe('open');
  });

  it('ignores outcomes of calls that started before it opened', async () => {
    const { breaker } = setup(1, 1000);
    const first = deferred();
    const second = deferred();
    const failing = call(breaker, false, first.promise);
    const straggler = call(breaker, true, second.promise);
    first.resolve();
    expect(await failing).toBe('failed'); // opens
    second.resolve();
    expect(await straggler).toBe('ok'); // does not cut the open period short
    expect(breaker.state).toBe('open');
    clock.advance(999);
    expect(await call(breaker, true)).toBe('rejected');
  });

  it('uses the documented defaults: 5 failures, 10 s', async () => {
    const breaker = new CircuitBreaker();
    await calls(breaker, false, 4);
    expect(breaker.state).toBe('closed');
    await call(breaker, false);
    expect(breaker.state).toBe('open');
    clock.advance(9_999);
    expect(await call(breaker, true)).toBe('rejected');
    clock.advance(1);
    expect(await call(breaker, true)).toBe('ok');
  });

  it('rejects nonsense options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(RangeError);
  });
});
