// One benchmark of one target: SETs of fresh keys, then GETs of those keys,
// from the same warm clients, with the CPU of the target's processes, of
// PostgreSQL and of the load generator read around each phase. Used by
// `make bench` (against a cluster it starts and the no-op reference) and by
// `kvring bench` (against a running cluster, whose processes it cannot see).
import { processTreeCpuMs, selfCpuMs, totalCpuMs } from './cpu.js';
import type { Protocol } from './clients.js';
import { createDriver } from './driver.js';
import { serverSide, type ServerSide, type StatsSource } from './server-stats.js';
import { KeySet, LoadClients, type ClientMode, type LoadResult, type OpKind } from './load.js';
import { runOpenLoop, type OpenLoopResult } from './open-loop.js';

export interface BenchTarget {
  /** Shown in the report, e.g. "kvring (3 nodes)". */
  readonly name: string;
  readonly addresses: readonly string[];
  /** Processes serving the requests (their CPU is charged to the target); empty when not local. */
  readonly pids: readonly number[];
  /** PostgreSQL's postmaster, when local: its tree's CPU is reported apart. */
  readonly postgresPid?: number;
  readonly ringAware?: boolean;
  /** How requests are sent (default: kvring unary calls). */
  readonly protocol?: Protocol;
  /** Memory and batching as the servers report them (server-stats.ts), read around each phase. */
  readonly stats?: StatsSource;
}

export interface BenchOptions {
  readonly ops: number;
  readonly concurrency: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly phases?: readonly OpKind[];
  readonly clients?: ClientMode;
  /** Threads of the load generator (default 1: one event loop). */
  readonly threads?: number;
  readonly token?: string;
  readonly timeoutMs?: number;
  /** Bound on each phase's duration. */
  readonly maxPhaseMs?: number;
  readonly signal?: AbortSignal;
}

export interface PhaseFigures {
  readonly target: string;
  readonly op: OpKind;
  readonly result: LoadResult;
  /** CPU ms the target's processes spent during the phase, per successful op (undefined: not measured). */
  readonly serverCpuMsPerOp: number | undefined;
  readonly postgresCpuMsPerOp: number | undefined;
  readonly loadgenCpuMsPerOp: number;
  /** CPU time over wall time: how many cores the target's processes kept busy (undefined: not measured). */
  readonly serverCores: number | undefined;
  /** The same for the load generator (all its threads); near 1 per thread it is the bottleneck. */
  readonly loadgenCores: number;
  /** Memory and batching over the phase (when the target has `stats`). */
  readonly server?: ServerSide;
}

interface CpuReading {
  readonly server: number | undefined;
  readonly postgres: number | undefined;
  readonly self: number;
}

function readCpu(target: BenchTarget): CpuReading {
  return {
    server: target.pids.length > 0 ? totalCpuMs(target.pids) : undefined,
    postgres: target.postgresPid === undefined ? undefined : processTreeCpuMs(target.postgresPid),
    self: selfCpuMs(),
  };
}

function cores(before: number | undefined, after: number | undefined, elapsedMs: number): number | undefined {
  if (before === undefined || after === undefined || elapsedMs <= 0) return undefined;
  return (after - before) / elapsedMs;
}

function perOp(before: number | undefined, after: number | undefined, ops: number): number | undefined {
  if (before === undefined || after === undefined || ops === 0) return undefined;
  return (after - before) / ops;
}

/** Runs the phases (default SET then GET) against `target` and returns one figure per phase. */
export async function benchTarget(target: BenchTarget, opts: BenchOptions): Promise<PhaseFigures[]> {
  const keys = KeySet.random(opts.keySize);
  const driver = createDriver(
    {
      addresses: target.addresses,
      ringAware: target.ringAware ?? false,
      protocol: target.protocol,
      token: opts.token,
      timeoutMs: opts.timeoutMs,
      clients: opts.clients ?? 'shared',
      concurrency: opts.concurrency,
    },
    keys,
    opts.threads ?? 1,
  );
  const figures: PhaseFigures[] = [];
  try {
    await driver.warmUp();
    for (const op of opts.phases ?? (['set', 'get'] as const)) {
      if (opts.signal?.aborted) break;
      const statsBefore = await target.stats?.read();
      const before = readCpu(target);
      const result = await driver.run({
        op,
        ops: opts.ops,
        valueSize: opts.valueSize,
        maxDurationMs: opts.maxPhaseMs,
        // A target failing every call would otherwise spin through all ops.
        maxErrors: Math.max(100, Math.floor(opts.ops / 10)),
        signal: opts.signal,
      });
      const after = readCpu(target);
      const statsAfter = await target.stats?.read();
      figures.push({
        target: target.name,
        op,
        result,
        serverCpuMsPerOp: perOp(before.server, after.server, result.ok),
        postgresCpuMsPerOp: perOp(before.postgres, after.postgres, result.ok),
        loadgenCpuMsPerOp: perOp(before.self, after.self, result.ok) ?? Number.NaN,
        serverCores: cores(before.server, after.server, result.elapsedMs),
        loadgenCores: cores(before.self, after.self, result.elapsedMs) ?? Number.NaN,
        ...(statsBefore && statsAfter ? { server: serverSide(statsBefore, statsAfter) } : {}),
      });
    }
  } finally {
    await driver.close();
  }
  return figures;
}

/**
 * The open-loop phases (open-loop.ts) against `target`: SETs of fresh keys
 * at `rates.set` per second, then GETs of those keys at `rates.get`, each
 * for `ops` operations, from one client on this thread.
 */
export async function benchOpenLoop(
  target: BenchTarget,
  opts: BenchOptions,
  rates: Readonly<Record<OpKind, number>>,
): Promise<OpenLoopResult[]> {
  const keys = KeySet.random(opts.keySize);
  const clients = new LoadClients({
    addresses: target.addresses,
    ringAware: target.ringAware ?? false,
    protocol: target.protocol,
    token: opts.token,
    timeoutMs: opts.timeoutMs,
    clients: 'shared',
    concurrency: 1,
  });
  const out: OpenLoopResult[] = [];
  try {
    await clients.warmUp();
    for (const op of ['set', 'get'] as const) {
      if (opts.signal?.aborted) break;
      const rate = rates[op];
      // About ten seconds of arrivals at most, and no more than a closed-loop phase.
      const ops = Math.max(1, Math.min(opts.ops, Math.ceil(rate * 10)));
      out.push(
        await runOpenLoop(clients, { op, rate, ops, keys, valueSize: opts.valueSize, signal: opts.signal }),
      );
    }
  } finally {
    clients.close();
  }
  return out;
}
