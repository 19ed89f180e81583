// The addresses the client may dial, from what it was given: IP literals as
// they are, each DNS name as every address it resolves to (one per pod
// behind a headless Service). Names are resolved on first use, then again on
// a timer and whenever a node fails (at most once per minimum interval), so
// a pod that restarted with a new IP is found and a deleted one is dropped.
// A name that fails to resolve keeps its last good addresses: a DNS hiccup
// must not empty the client.
import { status } from '@grpc/grpc-js';
import { KvError } from './errors.js';
import { joinHostPort, parseTarget, type AddressResolver, type Target } from './targets.js';

export interface EndpointsOptions {
  readonly resolver: AddressResolver;
  readonly now: () => number;
  /** Least time between two failure-triggered resolutions. */
  readonly minIntervalMs: number;
  /** Called after a resolution changed the list, with the addresses that left it. */
  readonly onChange: (removed: readonly string[]) => void;
}

export class Endpoints {
  private readonly targets: readonly Target[];
  /** Per DNS target (by its index): the addresses it resolved to last. */
  private readonly resolved = new Map<number, readonly string[]>();
  private current: readonly string[];
  private lastStart = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private lastError: unknown;

  constructor(
    given: readonly string[],
    private readonly opts: EndpointsOptions,
  ) {
    this.targets = given.map(parseTarget);
    this.current = this.compose();
  }

  /** Whether any target is a DNS name. */
  get hasNames(): boolean {
    return this.targets.some((t) => !t.literal);
  }

  /** Every address known now, in the order given (a name's addresses in the resolver's order). */
  list(): readonly string[] {
    return this.current;
  }

  /**
   * The address a DNS name gave for `host` (an IP), with the name's port:
   * how a member's advertised address becomes one this client can dial.
   */
  fromName(host: string): string | undefined {
    for (const [i, addrs] of this.resolved) {
      const t = this.targets[i]!;
      const hit = addrs.find((a) => a === joinHostPort(host, t.port));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** The DNS name `address` came from, when it came from one (and not also from a literal). */
  nameOf(address: string): string | undefined {
    if (this.targets.some((t) => t.literal && t.address === address)) return undefined;
    for (const [i, addrs] of this.resolved) if (addrs.includes(address)) return this.targets[i]!.host;
    return undefined;
  }

  /** Resolves the names once if they never were; fails (not sent) when no address is known at all. */
  async ready(): Promise<void> {
    if (this.hasNames && this.lastStart === Number.NEGATIVE_INFINITY) await this.refresh();
    if (this.current.length === 0)
      throw new KvError(
        'UNAVAILABLE',
        status.UNAVAILABLE,
        `no address to dial: ${describe(this.lastError)} (the call was not sent)`,
        this.targets.map((t) => t.address).join(','),
        {},
        true,
      );
  }

  /** Resolves every name now; concurrent callers share one resolution. */
  refresh(): Promise<void> {
    if (!this.hasNames) return Promise.resolve();
    this.lastStart = this.opts.now();
    this.inflight ??= this.resolveAll().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** A node failed: resolve again, unless that was done less than the minimum interval ago. */
  refreshSoon(): void {
    if (this.opts.now() - this.lastStart < this.opts.minIntervalMs) return;
    // Failures are kept (lastError) and the last good list stays in use.
    this.refresh().catch(() => undefined);
  }

  private async resolveAll(): Promise<void> {
    await Promise.all(
      this.targets.map(async (t, i) => {
        if (t.literal) return;
        try {
          const ips = await this.opts.resolver.resolve(t.host);
          if (ips.length > 0) this.resolved.set(i, [...new Set(ips.map((ip) => joinHostPort(ip, t.port)))]);
        } catch (err) {
          this.lastError = err;
        }
      }),
    );
    const before = this.current;
    this.current = this.compose();
    const now = new Set(this.current);
    const removed = before.filter((a) => !now.has(a));
    if (removed.length > 0 || before.length !== this.current.length) this.opts.onChange(removed);
  }

  private compose(): readonly string[] {
    const out = new Set<string>();
    this.targets.forEach((t, i) => {
      if (t.literal) out.add(t.address);
      else for (const a of this.resolved.get(i) ?? []) out.add(a);
    });
    return [...out];
  }
}

function describe(err: unknown): string {
  if (err === undefined) return 'no name resolved to any address';
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(JSON.stringify(err));
  return `cannot resolve (${e.code ?? e.message})`;
}
