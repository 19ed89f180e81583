// Leader election on a lease, with client-go's semantics:
// - a candidate takes the lease when it is free, released, or has not been
//   renewed for leaseDuration as measured on the candidate's own clock from
//   when it last saw the record change (so clock skew between machines
//   does not matter, only clock rates);
// - the leader renews every retryPeriod and gives up leadership when it has
//   not managed to renew for renewDeadline (< leaseDuration): it stops
//   acting before anyone else may start;
// - on a clean stop the leader releases the lease, so a successor takes
//   over within one retryPeriod instead of waiting out the lease.
import type { Clock } from '../clock.js';
import { LeaseConflictError, type LeaseRecord, type LeaseStore, type VersionedLease } from './lease-store.js';

export interface LeaderElectorOptions {
  store: LeaseStore;
  identity: string;
  clock: Clock;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Called when this candidate becomes leader; `signal` aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void;
  /** Called when leadership ends (lost, or on shutdown before the lease is released); awaited. */
  onStoppedLeading: () => void | Promise<void>;
  /** Called when another identity is seen holding the lease. */
  onNewLeader?: (identity: string) => void;
  /** Random source for jitter (0..1); tests pass a constant. */
  random?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class LeaderElector {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private observed: VersionedLease | undefined;
  private observedRaw = '';
  private observedAt = 0;
  private leading = false;
  private lastLeader = '';

  constructor(private readonly o: LeaderElectorOptions) {
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs))
      throw new Error('leaseDuration must be greater than renewDeadline');
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2))
      throw new Error('renewDeadline must be greater than retryPeriod * 1.2');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen in the lease ('' when unknown or released). */
  leader(): string {
    return this.lastLeader;
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead while renewing, and after
   * a loss campaign again. Resolves after the lease was released.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.acquire(signal))) break;
      const leadership = new AbortController();
      this.leading = true;
      this.log('became leader', { lease: this.o.store.describe() });
      try {
        this.o.onStartedLeading(leadership.signal);
      } catch (err) {
        this.log('onStartedLeading failed', { err: String(err) });
      }
      await this.renewLoop(signal);
      this.leading = false;
      leadership.abort();
      this.log(signal.aborted ? 'stopping leadership (shutdown)' : 'lost leadership');
      // Stop working first, release second: a successor can start only
      // once this process no longer writes.
      try {
        await this.o.onStoppedLeading();
      } catch (err) {
        this.log('onStoppedLeading failed', { err: String(err) });
      }
      if (signal.aborted) await this.release();
    }
  }

  /** Retries every retryPeriod (with jitter) until acquired; false when aborted first. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(signal)) return true;
      await this.o.clock.sleep(this.jitter(this.retryPeriodMs), signal);
    }
    return false;
  }

  /** Renews every retryPeriod; returns when renewal failed for renewDeadline, the lease was taken, or on abort. */
  private async renewLoop(signal: AbortSignal): Promise<void> {
    let lastRenew = this.o.clock.now();
    while (!signal.aborted) {
      await this.o.clock.sleep(this.retryPeriodMs, signal);
      if (signal.aborted) return;
      const ok = await this.tryAcquireOrRenew(signal, lastRenew + this.renewDeadlineMs);
      const now = this.o.clock.now();
      if (ok) {
        lastRenew = now;
        continue;
      }
      // Someone else holds a live lease: we lost it, stop at once.
      if (this.observed && this.observed.record.holderIdentity !== this.o.identity && this.heldByOther())
        return;
      if (now - lastRenew >= this.renewDeadlineMs) return;
    }
  }

  /** One attempt; `deadline` (clock ms) bounds the store calls. */
  private async tryAcquireOrRenew(signal: AbortSignal, deadline?: number): Promise<boolean> {
    const now = this.o.clock.now();
    const callSignal = this.callSignal(signal, deadline ?? now + this.renewDeadlineMs);
    try {
      const current = await this.o.store.get(callSignal.signal);
      const me = this.o.identity;
      const fresh: LeaseRecord = {
        holderIdentity: me,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      };
      if (!current) {
        this.observe(await this.o.store.create(fresh, callSignal.signal));
        return true;
      }
      this.observe(current);
      const r = current.record;
      if (r.holderIdentity !== me && this.heldByOther()) return false;
      const next: LeaseRecord =
        r.holderIdentity === me
          ? { ...r, renewTime: now, leaseDurationSeconds: fresh.leaseDurationSeconds }
          : { ...fresh, leaseTransitions: r.leaseTransitions + 1 };
      this.observe(await this.o.store.update(next, current.version, callSignal.signal));
      return true;
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) this.log('lease request failed', { err: String(err) });
      return false;
    } finally {
      callSignal.done();
    }
  }

  /** True while another holder's lease is live by our own observation. */
  private heldByOther(): boolean {
    const r = this.observed?.record;
    if (!r || r.holderIdentity === '' || r.holderIdentity === this.o.identity) return false;
    return this.observedAt + r.leaseDurationSeconds * 1000 > this.o.clock.now();
  }

  private observe(lease: VersionedLease): void {
    const raw = JSON.stringify(lease.record);
    if (raw !== this.observedRaw) {
      this.observedRaw = raw;
      this.observedAt = this.o.clock.now();
    }
    this.observed = lease;
    const holder = lease.record.holderIdentity;
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder && holder !== this.o.identity) this.o.onNewLeader?.(holder);
    }
  }

  /** Gives the lease up so that a successor need not wait for it to expire. */
  private async release(): Promise<void> {
    const lease = this.observed;
    if (!lease || lease.record.holderIdentity !== this.o.identity) return;
    const now = this.o.clock.now();
    const call = this.callSignal(new AbortController().signal, now + this.renewDeadlineMs);
    try {
      this.observe(
        await this.o.store.update(
          { ...lease.record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now },
          lease.version,
          call.signal,
        ),
      );
      this.log('released the lease');
    } catch (err) {
      this.log('could not release the lease (it will expire)', { err: String(err) });
    } finally {
      call.done();
    }
  }

  private callSignal(parent: AbortSignal, deadline: number): { signal: AbortSignal; done: () => void } {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    const timer = this.o.clock.setTimer(Math.max(1, deadline - this.o.clock.now()), () =>
      ctl.abort(new Error('lease request timed out')),
    );
    return {
      signal: ctl.signal,
      done: () => {
        timer.cancel();
        parent.removeEventListener('abort', onAbort);
      },
    };
  }

  private jitter(ms: number): number {
    return ms * (1 + 0.2 * (this.o.random ?? Math.random)());
  }

  private log(msg: string, fields: Record<string, unknown> = {}): void {
    this.o.log?.(msg, { identity: this.o.identity, ...fields });
  }
}
