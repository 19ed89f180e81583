// What the suite asks the nodes, never changing them: /status (membership
// as each node sees it), /metrics (hints kept, evictions), and the peer
// Digest RPC (what a replica holds).
import { Metadata, credentials } from '@grpc/grpc-js';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import type { FaultNode } from './fault-node.js';

/** MemberState on /status: 1 up, 2 down, 3 self. */
const DOWN = 2;
const UP = 1;
const SELF = 3;

/** The part of /status (ClusterInfo as JSON) the suite reads. */
interface StatusView {
  ringHash: string;
  members: Array<{ name: string; state: number; ownership: number; peerAddress: string }>;
}

async function statusOf(node: FaultNode, timeoutMs: number): Promise<StatusView> {
  const res = await fetch(`${node.httpUrl}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  return (await res.json()) as StatusView;
}

export async function memberStates(node: FaultNode, timeoutMs = 1000): Promise<Map<string, number>> {
  const body = await statusOf(node, timeoutMs);
  return new Map(body.members.map((m) => [m.name, m.state]));
}

export interface RingSeen {
  readonly hash: string;
  /** Members that own part of the ring, sorted (a draining or held-down dead member may be listed with none). */
  readonly owners: string[];
  /** Members shown down. */
  readonly down: string[];
  /** "name@peerAddress" of every member listed, owners or not. */
  readonly listed: string[];
}

/** The ring a node uses now, from its /status. */
export async function ringOf(node: FaultNode, timeoutMs = 1000): Promise<RingSeen> {
  const body = await statusOf(node, timeoutMs);
  return {
    hash: body.ringHash,
    owners: body.members
      .filter((m) => m.ownership > 0)
      .map((m) => m.name)
      .sort(),
    down: body.members.filter((m) => m.state === DOWN).map((m) => m.name),
    listed: body.members.map((m) => `${m.name}@${m.peerAddress}`),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Milliseconds from `since` (performance.now()) until every observer's
 * /status shows `victim` down; undefined if that does not happen within
 * `timeoutMs`.
 */
export async function timeToSeeDown(
  victim: string,
  observers: readonly FaultNode[],
  since: number,
  timeoutMs = 15_000,
): Promise<number | undefined> {
  const pending = new Set(observers);
  while (pending.size > 0 && performance.now() - since < timeoutMs) {
    await Promise.all(
      [...pending].map(async (o) => {
        try {
          if ((await memberStates(o, 500)).get(victim) === DOWN) pending.delete(o);
        } catch {
          // observer busy or restarting: ask again
        }
      }),
    );
    if (pending.size > 0) await sleep(20);
  }
  return pending.size === 0 ? performance.now() - since : undefined;
}

/** Waits until every running node sees every other running node up (bounded). */
export async function waitMembersUp(nodes: readonly FaultNode[], timeoutMs = 30_000): Promise<void> {
  const running = nodes.filter((n) => n.running && !n.paused);
  const names = new Set(running.map((n) => n.name));
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const lagging: string[] = [];
    await Promise.all(
      running.map(async (n) => {
        try {
          const states = await memberStates(n);
          for (const [m, s] of states)
            if (names.has(m) && s !== UP && s !== SELF) lagging.push(`${n.name} sees ${m} down`);
        } catch (err) {
          lagging.push(`${n.name}: ${(err as Error).message}`);
        }
      }),
    );
    if (lagging.length === 0) return;
    last = lagging.join('; ');
    await sleep(100);
  }
  throw new Error(`members did not all see each other up within ${timeoutMs} ms: ${last}`);
}

/** Sum of a metric over its label sets, as one node reports it (0 when absent). */
export function metricSum(metricsText: string, name: string): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** Sum of kvring_hints_pending over its member labels, as one node reports it. */
export function hintsPending(metricsText: string): number {
  return metricSum(metricsText, 'kvring_hints_pending');
}

/** Counters the suite reports, summed over restarts. */
export const EVICTIONS = 'kvring_evictions_total';
export const VERSION_REGRESSIONS = 'kvring_version_regressions_total';
const COUNTERS = [EVICTIONS, VERSION_REGRESSIONS];

/**
 * Samples every node's /metrics every `everyMs`: keeps the cluster's peak of
 * pending hints, and counts COUNTERS over restarts (a counter that went
 * down belongs to a new process; what the old one counted is kept).
 */
export class MetricsSampler {
  peakHints = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** By "counter node": the last value seen, and what earlier processes counted. */
  private readonly last = new Map<string, number>();
  private readonly earlier = new Map<string, number>();

  constructor(
    private readonly nodes: readonly FaultNode[],
    private readonly everyMs = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One counter's count so far, by node. */
  counted(counter: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.nodes) {
      const id = `${counter} ${n.name}`;
      out[n.name] = (this.earlier.get(id) ?? 0) + (this.last.get(id) ?? 0);
    }
    return out;
  }

  /** Takes one more sample now (e.g. right before the nodes stop). */
  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const texts = await Promise.all(
        this.nodes
          .filter((n) => n.running && !n.paused)
          .map(async (n) => {
            try {
              const res = await fetch(`${n.httpUrl}/metrics`, { signal: AbortSignal.timeout(1000) });
              return { n, text: await res.text() };
            } catch {
              return { n, text: undefined };
            }
          }),
      );
      let hints = 0;
      for (const { n, text } of texts) {
        if (text === undefined) continue;
        hints += hintsPending(text);
        for (const counter of COUNTERS) {
          const id = `${counter} ${n.name}`;
          const v = metricSum(text, counter);
          const last = this.last.get(id) ?? 0;
          if (v < last) this.earlier.set(id, (this.earlier.get(id) ?? 0) + last);
          this.last.set(id, v);
        }
      }
      this.samples++;
      if (hints > this.peakHints) this.peakHints = hints;
    } finally {
      this.busy = false;
    }
  }
}

export function digest(node: FaultNode, timeoutMs = 5_000): Promise<DigestResponse> {
  const c = new PeerServiceClient(node.peerAddress, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
  });
  return new Promise<DigestResponse>((resolve, reject) =>
    c.digest({ keys: [] }, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}
