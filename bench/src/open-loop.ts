// The open-loop mode: operations arrive at a fixed rate whatever the
// server does (as requests from many independent users would), instead of
// each worker waiting for its previous answer. Latency is measured from
// each operation's intended start (its slot in the schedule), not from when
// the load generator got round to sending it, so a stall counts against
// every operation that should have started during it (no coordinated
// omission). The service time (from the actual send) is kept apart, so the
// difference shows how far the generator itself fell behind.
import { randomBytes } from 'node:crypto';
import { KvClientError } from '@kvring/client';
import { statusName } from '@kvring/format/status-names';
import { latencyHistogram, latencySnapshot, recordLatency, type HistogramSnapshot } from './histogram.js';
import { renderTable } from '@kvring/format/table';
import type { KeySet, LoadClients, OpKind } from './load.js';

export interface OpenLoopOptions {
  readonly op: OpKind;
  /** Offered operations per second. */
  readonly rate: number;
  readonly ops: number;
  readonly keys: KeySet;
  readonly valueSize: number;
  /** Most operations outstanding; an arrival past it is counted as dropped (the server fell behind). */
  readonly maxOutstanding?: number;
  readonly signal?: AbortSignal;
}

export interface OpenLoopResult {
  readonly op: OpKind;
  readonly offeredPerSec: number;
  readonly ok: number;
  readonly errors: number;
  readonly dropped: number;
  readonly firstError: string | undefined;
  readonly achievedPerSec: number;
  /** From each operation's intended start to its answer, in microseconds. */
  readonly latencyUs: HistogramSnapshot;
  /** From the actual send to the answer, in microseconds. */
  readonly serviceUs: HistogramSnapshot;
}

const DEFAULT_MAX_OUTSTANDING = 10_000;

export async function runOpenLoop(
  clients: Pick<LoadClients, 'forWorker'>,
  opts: OpenLoopOptions,
): Promise<OpenLoopResult> {
  if (!(opts.rate > 0)) throw new Error('open loop: rate must be positive');
  const client = clients.forWorker(0);
  const value = randomBytes(opts.valueSize);
  const latency = latencyHistogram();
  const service = latencyHistogram();
  const intervalMs = 1000 / opts.rate;
  const maxOutstanding = opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING;
  let errors = 0;
  let dropped = 0;
  let outstanding = 0;
  let firstError: string | undefined;
  let issued = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));

  const settle = (): void => {
    outstanding--;
    if (issued >= opts.ops && outstanding === 0) finished();
  };
  const one = (i: number, intended: number): void => {
    const key = opts.keys.key(i);
    const sent = performance.now();
    outstanding++;
    const p = opts.op === 'set' ? client.set(key, value) : client.get(key);
    p.then(
      () => {
        const t = performance.now();
        recordLatency(latency, (t - intended) * 1000);
        recordLatency(service, (t - sent) * 1000);
        settle();
      },
      (err: unknown) => {
        errors++;
        firstError ??= err instanceof KvClientError ? `${statusName(err.code)}: ${err.details}` : String(err);
        settle();
      },
    );
  };

  const started = performance.now();
  // Each tick sends every operation whose slot has come; a timer of 1 ms
  // keeps the generator's own lag small without spinning a core.
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (issued < opts.ops && started + issued * intervalMs <= now) {
        if (opts.signal?.aborted) {
          issued = opts.ops;
          break;
        }
        const intended = started + issued * intervalMs;
        if (outstanding >= maxOutstanding) dropped++;
        else one(issued, intended);
        issued++;
      }
      if (issued >= opts.ops) return resolve();
      setTimeout(tick, Math.max(0, Math.min(1, started + issued * intervalMs - now)));
    };
    tick();
  });
  if (outstanding > 0) await done;
  const elapsedMs = performance.now() - started;
  return {
    op: opts.op,
    offeredPerSec: opts.rate,
    ok: latency.count,
    errors,
    dropped,
    firstError,
    achievedPerSec: elapsedMs > 0 ? (latency.count * 1000) / elapsedMs : 0,
    latencyUs: latencySnapshot(latency),
    serviceUs: latencySnapshot(service),
  };
}

export interface OpenLoopRow {
  readonly target: string;
  readonly result: OpenLoopResult;
}

const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10_000 ? 2 : 1) : '-');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

export function formatOpenLoop(rows: readonly OpenLoopRow[], share: number): string {
  if (rows.length === 0) return '';
  const header = [
    'target',
    'op',
    'offered/s',
    'achieved/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'service p99 ms',
    'errors',
    'dropped',
  ];
  const body = rows.map(({ target, result: r }) => [
    target,
    r.op.toUpperCase(),
    int(r.offeredPerSec),
    int(r.achievedPerSec),
    ms(r.latencyUs.p50),
    ms(r.latencyUs.p95),
    ms(r.latencyUs.p99),
    ms(r.latencyUs.max),
    ms(r.serviceUs.p99),
    int(r.errors),
    int(r.dropped),
  ]);
  const notes = rows
    .filter((r) => r.result.firstError !== undefined)
    .map((r) => `${r.target} ${r.result.op.toUpperCase()} open loop: first error: ${r.result.firstError}`);
  return [
    `open loop at ${Math.round(share * 100)}% of each target's closed-loop peak (median ops/s above): ` +
      "latency from each operation's scheduled start (no coordinated omission); service: from the actual send",
    renderTable(header, body),
    ...notes,
  ].join('\n');
}
