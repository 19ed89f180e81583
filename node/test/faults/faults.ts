// Fault injectors. Each is bounded in time, records its start and its heal
// in the history (Porcupine shows them beside the operations), and leaves
// the system healed when it returns, also when it throws.
import type { DemoLegacyConfig } from '@kvring/demo-legacy/server';
import { AdminClient } from '@kvring/client';
import type { FaultEnv } from './env.js';
import type { HistoryRecorder } from './history.js';
import { timeToSeeDown } from './probes.js';
import type { Workload } from './workload.js';

export interface FaultFigures {
  faults: number;
  /** Per SIGKILL or SIGSTOP: ms until every other running node's /status showed the victim down. */
  detectMs: number[];
  /** Kills and pauses not detected within the bound. */
  undetected: number;
  /** Writes in flight on the victim's coordinator when it was killed. */
  inflightAtKill: number[];
  notes: string[];
  /** Guarantees a fault saw broken outside the history (e.g. a DNS gap that changed the ring). */
  broken: string[];
}

export interface FaultContext {
  readonly env: FaultEnv;
  readonly history: HistoryRecorder;
  readonly workload: Workload;
  /** performance.now() at which the faults must stop. */
  readonly deadline: number;
  readonly random: () => number;
  readonly figures: FaultFigures;
  /** The scenario's own figures, printed with its summary. */
  readonly extra: Record<string, number | string>;
}

export function newFigures(): FaultFigures {
  return { faults: 0, detectMs: [], undetected: 0, inflightAtKill: [], notes: [], broken: [] };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Runs `fault` then waits `gapMs`, again and again until the deadline (a fault never starts past it). */
export async function repeat(
  ctx: FaultContext,
  gapMs: number,
  fault: (round: number) => Promise<void>,
  maxRounds = 1_000,
): Promise<void> {
  for (let round = 0; round < maxRounds && performance.now() < ctx.deadline; round++) {
    await fault(round);
    await sleep(Math.min(gapMs, ctx.deadline - performance.now()));
  }
}

function pickIndex(ctx: FaultContext, round: number, busiest: boolean): number {
  const nodes = ctx.env.nodes;
  if (busiest) {
    const name = ctx.workload.busiestCoordinator();
    const i = nodes.findIndex((n) => n.name === name);
    if (i >= 0) return i;
  }
  return Math.floor(ctx.random() * nodes.length) % nodes.length;
}

/**
 * SIGKILL of a node (every other round the coordinator with the most writes
 * in flight), then a restart after `downMs`; measures how long the others
 * take to see it down.
 */
export async function killAndRestart(ctx: FaultContext, round: number, downMs: number): Promise<void> {
  const i = pickIndex(ctx, round, round % 2 === 0);
  const node = ctx.env.nodes[i]!;
  if (!node.running) return;
  const inflight = ctx.workload.inflightWrites.get(node.name) ?? 0;
  const heal = ctx.history.fault(`SIGKILL ${node.name} (${inflight} writes in flight)`);
  ctx.figures.faults++;
  ctx.figures.inflightAtKill.push(inflight);
  const t0 = performance.now();
  try {
    await node.kill();
    const observers = ctx.env.nodes.filter((n) => n !== node && n.running && !n.paused);
    const detected = await timeToSeeDown(node.name, observers, t0, 10_000);
    if (detected === undefined) ctx.figures.undetected++;
    else ctx.figures.detectMs.push(Math.round(detected));
    await sleep(downMs - (performance.now() - t0));
  } finally {
    await node.startReady();
    heal();
  }
}

/** SIGSTOP for `ms` (longer than the failure detector's timeout), then SIGCONT. */
export async function pause(ctx: FaultContext, round: number, ms: number): Promise<void> {
  const node = ctx.env.nodes[pickIndex(ctx, round, round % 2 === 0)]!;
  if (!node.running || node.paused) return;
  const heal = ctx.history.fault(`SIGSTOP ${node.name} for ${ms} ms`);
  ctx.figures.faults++;
  try {
    const t0 = performance.now();
    node.pause();
    // A paused process keeps its connections open: only the failure
    // detector's timeout can tell, so this measures that timeout at work.
    const observers = ctx.env.nodes.filter((n) => n !== node && n.running && !n.paused);
    const detected = await timeToSeeDown(node.name, observers, t0, ms);
    if (detected === undefined) ctx.figures.undetected++;
    else ctx.figures.detectMs.push(Math.round(detected));
    await sleep(ms - (performance.now() - t0));
  } finally {
    node.resume();
    heal();
  }
}

/** Node i cannot reach its peers nor they it, for `ms`; clients and PostgreSQL still reach it. */
export async function partitionFromPeers(ctx: FaultContext, round: number, ms: number): Promise<void> {
  const i = round % ctx.env.nodes.length;
  const heal = ctx.history.fault(`partition ${ctx.env.nodes[i]!.name} | peers for ${ms} ms`);
  ctx.figures.faults++;
  try {
    await ctx.env.net.isolateFromPeers(i);
    await sleep(ms);
  } finally {
    await ctx.env.net.healAll();
    heal();
  }
}

/** Node i cannot reach PostgreSQL for `ms` (its open connections stall). */
export async function partitionFromPostgres(ctx: FaultContext, round: number, ms: number): Promise<void> {
  const i = round % ctx.env.nodes.length;
  const heal = ctx.history.fault(`partition ${ctx.env.nodes[i]!.name} | PostgreSQL for ${ms} ms`);
  ctx.figures.faults++;
  try {
    await ctx.env.net.isolateFromPostgres(i);
    await sleep(ms);
  } finally {
    await ctx.env.net.healAll();
    heal();
  }
}

/** SIGKILL of PostgreSQL, a restart after `downMs` (crash recovery). */
export async function killPostgres(ctx: FaultContext, downMs: number): Promise<void> {
  const heal = ctx.history.fault(`SIGKILL PostgreSQL for ${downMs} ms`);
  ctx.figures.faults++;
  try {
    await ctx.env.killPostgres();
    await sleep(downMs);
  } finally {
    await ctx.env.restartPostgres();
    heal();
  }
}

export const LEGACY_NORMAL: DemoLegacyConfig = { latencyMs: 0, failureRate: 0, hang: false };

/** The demo legacy API misbehaves (slow, 5xx, hanging) for `ms`. */
export async function legacyFault(
  ctx: FaultContext,
  label: string,
  patch: Partial<DemoLegacyConfig>,
  ms: number,
): Promise<void> {
  const heal = ctx.history.fault(`legacy API ${label} for ${ms} ms`);
  ctx.figures.faults++;
  try {
    await ctx.env.legacy.setConfig(patch);
    await sleep(ms);
  } finally {
    await ctx.env.legacy.setConfig(LEGACY_NORMAL);
    heal();
  }
}

/** SIGKILL of every node at once, all restarted after `downMs`. */
export async function fullRestart(ctx: FaultContext, downMs: number): Promise<void> {
  const heal = ctx.history.fault(`SIGKILL all nodes, restart after ${downMs} ms`);
  ctx.figures.faults++;
  try {
    await Promise.all(ctx.env.nodes.map((n) => n.kill()));
    await sleep(downMs);
  } finally {
    await Promise.all(ctx.env.nodes.map((n) => n.startReady()));
    heal();
  }
}

/** Undoes anything a failed injector may have left: every node running, no partition, dependencies normal. */
export async function healEverything(env: FaultEnv): Promise<void> {
  for (const n of env.nodes) if (n.paused) n.resume();
  await env.net.healAll();
  if (!env.pg.running) await env.restartPostgres();
  await env.legacy.setConfig(LEGACY_NORMAL);
  await Promise.all(env.nodes.filter((n) => !n.running && !n.standby).map((n) => n.startReady()));
}

/**
 * SIGKILL of the busiest coordinator, kept down until the deadline (the
 * window in which availability and hints are measured), then restarted.
 */
export async function nodeDown(ctx: FaultContext): Promise<void> {
  const i = pickIndex(ctx, 0, true);
  const node = ctx.env.nodes[i]!;
  const inflight = ctx.workload.inflightWrites.get(node.name) ?? 0;
  const heal = ctx.history.fault(`SIGKILL ${node.name}, down until the end (${inflight} writes in flight)`);
  ctx.figures.faults++;
  ctx.figures.inflightAtKill.push(inflight);
  const t0 = performance.now();
  try {
    await node.kill();
    const observers = ctx.env.nodes.filter((n) => n !== node && n.running);
    const ms = await timeToSeeDown(node.name, observers, t0, 10_000);
    if (ms === undefined) ctx.figures.undetected++;
    else ctx.figures.detectMs.push(Math.round(ms));
    await sleep(ctx.deadline - performance.now());
  } finally {
    await node.startReady();
    heal();
  }
}

/**
 * A flaky link instead of a clean cut (this kernel has no netem to drop a
 * share of packets): node i's links to its peers go dead for 50-250 ms,
 * then work for 100-500 ms, over and over for `ms`. TCP sees bursts of
 * loss, retransmissions and stalls; the failure detector may flap.
 */
export async function flakyPeerLinks(ctx: FaultContext, round: number, ms: number): Promise<void> {
  const i = round % ctx.env.nodes.length;
  const heal = ctx.history.fault(`flaky links ${ctx.env.nodes[i]!.name} | peers for ${ms} ms`);
  ctx.figures.faults++;
  const until = performance.now() + ms;
  try {
    for (let flap = 0; performance.now() < until && flap < 10_000; flap++) {
      await ctx.env.net.isolateFromPeers(i);
      await sleep(50 + ctx.random() * 200);
      await ctx.env.net.healAll();
      await sleep(100 + ctx.random() * 400);
    }
  } finally {
    await ctx.env.net.healAll();
    heal();
  }
}

/**
 * A drain under load, as a scale-down does it: node i hands its keys to the
 * members that remain (the Drain RPC), gets SIGTERM, stays down `downMs`
 * and comes back. Handoff rows reach replicas that evicted the key or took
 * newer writes meanwhile.
 */
export async function drainAndRestart(ctx: FaultContext, round: number, downMs: number): Promise<void> {
  const node = ctx.env.nodes[round % ctx.env.nodes.length]!;
  if (!node.running) return;
  const heal = ctx.history.fault(`drain ${node.name}, SIGTERM, back after ${downMs} ms`);
  ctx.figures.faults++;
  // Drain is served on the peer port only.
  const admin = new AdminClient({ timeoutMs: 30_000 });
  try {
    const r = await admin.drain(node.peerAddress, [node.name]);
    ctx.figures.notes.push(`${node.name} drained: ${r.keysStreamed} keys streamed, ${r.keysFailed} failed`);
    await node.stop(10_000);
    await sleep(downMs);
  } finally {
    admin.close();
    await node.startReady();
    heal();
  }
}
