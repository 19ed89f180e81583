// Membership faults for nodes that find each other through DNS (env.ts,
// FaultEnvOptions.dns): a scale-up (a standby node starts and is listed), a
// scale-down as the operator does it (Drain on the peer port, SIGTERM, the
// pod's records gone), and a pod missing from DNS for a few discovery
// refreshes, then back. Each waits for the event that ends it (DNS answers
// served to every node, the new ring hash on every node), never a fixed
// time. A RingWatcher records every ring hash each node reports, so the
// scenario can say how many ring changes it made and how long nodes
// disagreed on the ring (the window of the documented residual).
import { AdminClient } from '@kvring/client';
import type { FaultDns } from './dns.js';
import type { FaultEnv } from './env.js';
import type { FaultNode } from './fault-node.js';
import { repeat, type FaultContext } from './faults.js';
import type { HistoryRecorder } from './history.js';
import { ringOf, type RingSeen } from './probes.js';

const RING_TIMEOUT_MS = 30_000;
const WATCH_EVERY_MS = 100;
const DRAIN_ATTEMPTS = 3;
/** Ring changes listed by name in the figures (the count has them all). */
const MAX_LISTED = 24;

/** First characters of a ring hash, enough to tell the scenario's rings apart. */
const short = (hash: string): string => hash.slice(0, 8);

/** The nodes in the cluster now (running, not standby). */
export function members(env: FaultEnv): FaultNode[] {
  return env.nodes.filter((n) => !n.standby && n.running && !n.paused);
}

function dnsOf(env: FaultEnv): FaultDns {
  if (!env.dns) throw new Error('membership faults need a scenario with dns (FaultEnvOptions.dns)');
  return env.dns;
}

/**
 * Waits until every node of `nodes` reports the same ring hash, owned by
 * exactly `nodes`, each seen up; returns the ms it took and the hash.
 */
export async function waitRingAgreed(
  nodes: readonly FaultNode[],
  timeoutMs = RING_TIMEOUT_MS,
): Promise<{ ms: number; hash: string }> {
  const t0 = performance.now();
  const names = new Set(nodes.map((n) => n.name));
  const want = [...names].sort().join(' ');
  let last = '';
  for (let round = 0; performance.now() - t0 < timeoutMs && round < 10_000; round++) {
    // A timed-out fetch rejects with a DOMException of Node's own realm,
    // which is no `instanceof Error` inside jest's VM context: wrap it.
    const seen = await Promise.all(
      nodes.map((n) => ringOf(n, 500).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))),
    );
    const rings = seen.filter((s): s is RingSeen => !(s instanceof Error));
    const agreed =
      rings.length === nodes.length &&
      new Set(rings.map((r) => r.hash)).size === 1 &&
      rings.every((r) => r.owners.join(' ') === want && !r.down.some((d) => names.has(d)));
    if (agreed) return { ms: Math.round(performance.now() - t0), hash: rings[0]!.hash };
    last = seen
      .map((s, i) =>
        s instanceof Error
          ? `${nodes[i]!.name}: ${s.message}`
          : `${nodes[i]!.name}: ${s.hash} [${s.owners.join(' ')}] down [${s.down.join(' ')}]`,
      )
      .join('; ');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`rings did not agree on [${want}] within ${timeoutMs} ms: ${last}`);
}

/** A ring hash a node reported for the first time (history time, ns). */
export interface RingTransition {
  readonly node: string;
  readonly from: string;
  readonly to: string;
  readonly t: number;
}

/**
 * Polls every running node's ring hash every WATCH_EVERY_MS until stopped,
 * keeping each change; a node seen for the first time (a scale-up) is not a change.
 */
export class RingWatcher {
  readonly transitions: RingTransition[] = [];
  private readonly current = new Map<string, string>();
  /** performance.now() since which members disagree, if they do. */
  private disagreeSince: number | undefined;
  private longest = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly env: FaultEnv,
    private readonly history: HistoryRecorder,
  ) {}

  start(maxMs: number): void {
    const until = performance.now() + maxMs;
    this.loop = (async () => {
      while (!this.stopped && performance.now() < until) {
        await this.sample();
        await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.sample();
  }

  /** Changes seen since `since` (history ns). */
  changesSince(since: number): RingTransition[] {
    return this.transitions.filter((x) => x.t >= since);
  }

  /** The longest stretch (ms) in which the cluster's members reported more than one ring hash. */
  longestDisagreementMs(): number {
    return Math.round(this.longest);
  }

  /** Asks every running node now (also between the periodic rounds). */
  async sample(): Promise<void> {
    // A node that stopped starts over: its next process's first ring is no change.
    for (const n of this.env.nodes) if (!n.running) this.current.delete(n.name);
    const nodes = this.env.nodes.filter((n) => n.running && !n.paused);
    await Promise.all(
      nodes.map(async (n) => {
        let hash: string;
        try {
          hash = (await ringOf(n, 500)).hash;
        } catch {
          return; // starting or stopping: asked again next round
        }
        if (hash === '') return; // no ring yet (starting)
        const t = this.history.now();
        const before = this.current.get(n.name);
        this.current.set(n.name, hash);
        if (before !== undefined && before !== hash)
          this.transitions.push({ node: n.name, from: before, to: hash, t });
      }),
    );
    const hashes = new Set(members(this.env).map((n) => this.current.get(n.name) ?? ''));
    const now = performance.now();
    if (hashes.size <= 1) this.disagreeSince = undefined;
    else {
      this.disagreeSince ??= now;
      this.longest = Math.max(this.longest, now - this.disagreeSince);
    }
  }
}

/** Scale-up: `node` is listed in DNS (a new pod has records once it has an IP), starts, and every ring takes it. */
export async function scaleUp(ctx: FaultContext, node: FaultNode): Promise<void> {
  const dns = dnsOf(ctx.env);
  const heal = ctx.history.fault(`scale up: ${node.name} listed in DNS and started`);
  ctx.figures.faults++;
  try {
    dns.add(node.pod);
    await node.startReady();
    node.standby = false;
    const r = await waitRingAgreed(members(ctx.env));
    ctx.figures.notes.push(`scale-up: every ring had ${node.name} after ${r.ms} ms (ring ${r.hash})`);
  } finally {
    heal();
  }
}

/**
 * Records as broken any ring change a node reported since `since` (history
 * ns), with what each changed node lists now: `what` was no scale event.
 */
async function expectNoRingChange(
  ctx: FaultContext,
  watcher: RingWatcher,
  since: number,
  what: string,
): Promise<void> {
  await watcher.sample();
  const changes = watcher.changesSince(since);
  if (changes.length === 0) return;
  const views = await Promise.all(
    [...new Set(changes.map((x) => x.node))].map(async (name) => {
      const n = ctx.env.nodes.find((x) => x.name === name)!;
      const r = await ringOf(n).catch(() => undefined);
      return r ? `${name} lists ${r.listed.join(' ')}, down [${r.down.join(' ')}]` : `${name}: no /status`;
    }),
  );
  ctx.figures.broken.push(
    `${what} changed the ring: ${changes.map((x) => `${x.node} ${short(x.from)}->${short(x.to)}`).join(', ')}; ${views.join('; ')}`,
  );
}

/**
 * Scale-down as the operator does it (operator/src/reconcile/drains.ts):
 * Drain on the leaving node's peer port; once it has handed its keys over,
 * the StatefulSet drops the pod: SIGTERM, and its records go from DNS when
 * the pod object is gone (the Service publishes not-ready addresses). The
 * records go at the worst moment for one remaining member (`witness`):
 * between its SRV and A lookups. The drained node left every ring at the
 * drain; its records going is no ring change.
 */
export async function scaleDown(
  ctx: FaultContext,
  node: FaultNode,
  witness: (remaining: readonly FaultNode[]) => FaultNode,
  watcher: RingWatcher,
): Promise<void> {
  const dns = dnsOf(ctx.env);
  const heal = ctx.history.fault(`scale down: ${node.name} drained, SIGTERM, removed from DNS`);
  ctx.figures.faults++;
  const admin = new AdminClient({ timeoutMs: 60_000 });
  try {
    // The operator scales down only once the drain reports every key handed
    // over, and asks again after a failed one.
    let d = await admin.drain(node.peerAddress, [node.name]);
    for (let attempt = 1; d.keysFailed > 0 && attempt < DRAIN_ATTEMPTS; attempt++) {
      ctx.figures.notes.push(`drain of ${node.name}: ${d.keysFailed} key(s) not handed over; again`);
      d = await admin.drain(node.peerAddress, [node.name]);
    }
    if (d.keysFailed > 0)
      throw new Error(
        `drain of ${node.name}: ${d.keysFailed} key(s) not handed over after ${DRAIN_ATTEMPTS} attempts`,
      );
    // Clients stop reaching the pod (the Service's endpoints drop it).
    node.standby = true;
    const remaining = members(ctx.env);
    const r = await waitRingAgreed(remaining);
    ctx.figures.notes.push(
      `scale-down: ${node.name} streamed ${d.keysStreamed} keys; every ring left it out after ${r.ms} ms`,
    );
    await node.stop(10_000);
    const w = witness(remaining);
    const since = ctx.history.now();
    const timed = await dns.removeBetweenLookups(node.name, w.host, RING_TIMEOUT_MS);
    // Discovery has read the list without it (and applied it) on every remaining node.
    await dns.served(
      remaining.map((n) => n.host),
      2,
      RING_TIMEOUT_MS,
    );
    await expectNoRingChange(
      ctx,
      watcher,
      since,
      `${node.name}'s records removed after it drained${timed ? ` (between ${w.name}'s SRV and A lookups)` : ''}`,
    );
  } finally {
    admin.close();
    heal();
  }
}

/**
 * A pod missing from DNS (deleted, its replacement without an IP yet) for
 * `refreshes` discovery reads of every member, then listed again. The
 * member hold-down must keep the ring as it was.
 */
export async function dnsGap(
  ctx: FaultContext,
  node: FaultNode,
  refreshes: number,
  watcher: RingWatcher,
): Promise<number> {
  const dns = dnsOf(ctx.env);
  const hosts = members(ctx.env).map((n) => n.host);
  const heal = ctx.history.fault(`${node.name} missing from DNS for ${refreshes} discovery reads`);
  ctx.figures.faults++;
  const since = ctx.history.now();
  const t0 = performance.now();
  try {
    dns.remove(node.name);
    await dns.served(hosts, refreshes, RING_TIMEOUT_MS);
  } finally {
    dns.add(node.pod);
    await dns.served(hosts, 2, RING_TIMEOUT_MS);
    heal();
  }
  await expectNoRingChange(ctx, watcher, since, `${node.name} missing from DNS`);
  return Math.round(performance.now() - t0);
}

/**
 * The membership scenario's faults, one step at a time until the deadline:
 * scale 3 -> 4, a DNS gap of a member, scale 4 -> 3, a DNS gap of another;
 * a scale-up left standing at the deadline is scaled down. Figures go to
 * ctx.extra.
 */
export async function membershipChanges(ctx: FaultContext, gapRefreshes: number): Promise<void> {
  const watcher = new RingWatcher(ctx.env, ctx.history);
  watcher.start(ctx.deadline - performance.now() + 10 * 60_000);
  const spare = ctx.env.nodes.find((n) => n.standby);
  if (spare === undefined) throw new Error('the membership scenario needs a standby node');
  let gaps = 0;
  let gapMs = 0;
  const gap = async (node: FaultNode): Promise<void> => {
    gapMs += await dnsGap(ctx, node, gapRefreshes, watcher);
    gaps++;
  };
  let scaleUps = 0;
  let drains = 0;
  try {
    await repeat(ctx, 500, async (step) => {
      const round = Math.floor(step / 4);
      const others = members(ctx.env).filter((n) => n !== spare);
      const other = others[round % others.length]!;
      switch (step % 4) {
        case 0:
          await scaleUp(ctx, spare);
          scaleUps++;
          return;
        case 1:
          // Every other round the pod just added, its ring change still settling.
          return gap(round % 2 === 0 ? spare : other);
        case 2:
          await scaleDown(ctx, spare, (rest) => rest[round % rest.length]!, watcher);
          drains++;
          return;
        default:
          return gap(other);
      }
    });
    if (!spare.standby) {
      await scaleDown(ctx, spare, (rest) => rest[0]!, watcher);
      drains++;
    }
  } finally {
    await watcher.stop();
    const x = watcher.transitions;
    ctx.extra['scale-ups 3 -> 4 / drains 4 -> 3'] = `${scaleUps} / ${drains}`;
    ctx.extra['DNS gaps (a member missing for some discovery reads) / mean length ms'] =
      `${gaps} / ${gaps > 0 ? Math.round(gapMs / gaps) : 0}`;
    ctx.extra['ring changes seen on the nodes (polling /status)'] = x.length;
    ctx.extra['distinct rings seen'] = new Set(x.flatMap((t) => [t.from, t.to])).size;
    ctx.extra['longest time the members reported different rings (ms)'] = watcher.longestDisagreementMs();
    ctx.extra['ring changes (node, history ms, from->to)'] =
      x
        .slice(0, MAX_LISTED)
        .map((t) => `${t.node} ${(t.t / 1e6).toFixed(0)} ${short(t.from)}->${short(t.to)}`)
        .join('; ') + (x.length > MAX_LISTED ? '; ...' : '');
  }
}
