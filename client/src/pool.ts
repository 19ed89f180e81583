// One gRPC channel per node address, and which addresses are down. A
// channel whose address left the cluster is retired: no new call takes it,
// and it closes when its last call ends (closing earlier would cancel calls
// that may still succeed). A failing address is avoided for a backoff that
// doubles with each consecutive failure; a success clears it.
import type { KVServiceClient } from './gen/kvring/v1/kvring.js';

export interface Channel {
  readonly address: string;
  readonly kv: KVServiceClient;
}

interface Entry extends Channel {
  inflight: number;
  retired: boolean;
}

export interface PoolOptions {
  readonly dial: (address: string) => KVServiceClient;
  readonly now: () => number;
  /** First backoff of a down address; doubles per consecutive failure up to 8 times this. */
  readonly downBackoffMs: number;
}

export class ChannelPool {
  private readonly live = new Map<string, Entry>();
  private readonly down = new Map<string, { until: number; failures: number }>();

  constructor(private readonly opts: PoolOptions) {}

  /** The channel to `address` for one call; give it back with release(). */
  acquire(address: string): Channel {
    let e = this.live.get(address);
    if (e === undefined) {
      e = { address, kv: this.opts.dial(address), inflight: 0, retired: false };
      this.live.set(address, e);
    }
    e.inflight++;
    return e;
  }

  release(ch: Channel): void {
    const e = ch as Entry;
    e.inflight--;
    if (e.retired && e.inflight === 0) e.kv.close();
  }

  /** Drops the channel to `address`; the next call dials afresh (no reconnect backoff inherited). */
  retire(address: string): void {
    const e = this.live.get(address);
    if (e === undefined) return;
    this.live.delete(address);
    e.retired = true;
    if (e.inflight === 0) e.kv.close();
  }

  /** Retires every channel whose address is not in `keep`. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const address of [...this.live.keys()]) if (!keep.has(address)) this.retire(address);
    for (const address of [...this.down.keys()]) if (!keep.has(address)) this.down.delete(address);
  }

  markDown(address: string): void {
    const failures = Math.min((this.down.get(address)?.failures ?? 0) + 1, 4);
    const until = this.opts.now() + this.opts.downBackoffMs * 2 ** (failures - 1);
    this.down.set(address, { until, failures });
  }

  markUp(address: string): void {
    this.down.delete(address);
  }

  isDown(address: string): boolean {
    const d = this.down.get(address);
    return d !== undefined && this.opts.now() < d.until;
  }

  close(): void {
    for (const address of [...this.live.keys()]) this.retire(address);
  }
}
