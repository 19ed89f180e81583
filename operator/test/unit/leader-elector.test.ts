import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../src/clock.js';
import { LeaderElector } from '../../src/leader/leader-elector.js';
import {
  MemoryLeaseStore,
  type LeaseRecord,
  type LeaseStore,
  type VersionedLease,
} from '../../src/leader/lease-store.js';

/** One candidate's view of the shared store; `cut` simulates a network partition. */
class Link implements LeaseStore {
  cut = false;
  constructor(private readonly store: MemoryLeaseStore) {}
  private check(): void {
    if (this.cut) throw new Error('connection refused');
  }
  async get(): Promise<VersionedLease | undefined> {
    this.check();
    return this.store.get();
  }
  async create(r: LeaseRecord): Promise<VersionedLease> {
    this.check();
    return this.store.create(r);
  }
  async update(r: LeaseRecord, v: string): Promise<VersionedLease> {
    this.check();
    return this.store.update(r, v);
  }
  describe(): string {
    return 'test';
  }
}

interface Candidate {
  id: string;
  link: Link;
  elector: LeaderElector;
  stop: AbortController;
  done: Promise<void>;
  events: string[];
  leading: () => boolean;
}

function candidate(id: string, store: MemoryLeaseStore, clock: FakeClock): Candidate {
  const link = new Link(store);
  const events: string[] = [];
  let leading = false;
  const elector = new LeaderElector({
    store: link,
    identity: id,
    clock,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    random: () => 0,
    onStartedLeading: () => {
      leading = true;
      events.push(`start@${clock.now()}`);
    },
    onStoppedLeading: () => {
      leading = false;
      events.push(`stop@${clock.now()}`);
    },
  });
  const stop = new AbortController();
  return { id, link, elector, stop, done: elector.run(stop.signal), events, leading: () => leading };
}

/** Advances in retry-period steps until `cond` holds; returns the time it took. */
async function until(clock: FakeClock, cond: () => boolean, maxMs = 120_000): Promise<number> {
  const start = clock.now();
  for (let i = 0; i < maxMs / 500 && !cond(); i++) await clock.advance(500);
  if (!cond()) throw new Error('condition never held');
  return clock.now() - start;
}

describe('LeaderElector', () => {
  it('acquires a free lease at once and keeps renewing it', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await clock.advance(0);
    expect(a.leading()).toBe(true);
    expect(store.peek()?.holderIdentity).toBe('a');
    const firstRenew = store.peek()!.renewTime;
    await clock.advance(6_000);
    expect(store.peek()!.renewTime).toBeGreaterThan(firstRenew);
    expect(store.peek()!.leaseTransitions).toBe(0);
    a.stop.abort();
    await a.done;
  });

  it('lets only one of two candidates lead', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await clock.advance(0);
    const b = candidate('b', store, clock);
    await clock.advance(60_000);
    expect(a.leading()).toBe(true);
    expect(b.leading()).toBe(false);
    expect(b.elector.leader()).toBe('a');
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.done, b.done]);
  });

  it('when the leader is cut off, it stops acting before the follower takes over', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await clock.advance(0);
    const b = candidate('b', store, clock);
    await clock.advance(4_000);
    const lastRenew = store.peek()!.renewTime;
    a.link.cut = true;

    await until(clock, () => !a.leading());
    const aStopped = clock.now();
    await until(clock, () => b.leading());
    const bStarted = clock.now();

    // The old leader gave up within renewDeadline of its last renewal...
    expect(aStopped - lastRenew).toBeLessThanOrEqual(10_000 + 2_000);
    // ...which is before the follower could take over: never two leaders.
    expect(bStarted).toBeGreaterThan(aStopped);
    // The follower waited out the lease (15s) from when it saw the last renewal.
    expect(bStarted - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(bStarted - lastRenew).toBeLessThanOrEqual(15_000 + 2_000 + 500);
    expect(store.peek()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });

    // The cut-off candidate comes back and finds the lease taken.
    a.link.cut = false;
    await clock.advance(30_000);
    expect(a.leading()).toBe(false);
    expect(b.leading()).toBe(true);
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.done, b.done]);
  });

  it('releases the lease on a clean stop so the follower takes over within one retry period', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await clock.advance(0);
    const b = candidate('b', store, clock);
    await clock.advance(5_000);
    a.stop.abort();
    await a.done;
    expect(a.events.at(-1)).toMatch(/^stop@/);
    expect(store.peek()?.holderIdentity).toBe('');
    const took = await until(clock, () => b.leading());
    expect(took).toBeLessThanOrEqual(2_000);
    b.stop.abort();
    await b.done;
  });

  it('steps down at once when it finds another holder in the lease', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await clock.advance(0);
    // Someone overwrote the lease (an operator with a skewed view, or a person).
    const cur = (await store.get())!;
    await store.update({ ...cur.record, holderIdentity: 'intruder', renewTime: clock.now() }, cur.version);
    await clock.advance(2_000);
    expect(a.leading()).toBe(false);
    expect(a.elector.leader()).toBe('intruder');
    a.stop.abort();
    await a.done;
  });

  it('rejects timings that could let two leaders overlap', () => {
    const store = new MemoryLeaseStore();
    const base = {
      store,
      identity: 'x',
      clock: new FakeClock(),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
    };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      /leaseDuration must be greater/,
    );
    expect(
      () =>
        new LeaderElector({ ...base, leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
    ).toThrow(/renewDeadline must be greater/);
  });
});
