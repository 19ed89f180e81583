// `kvring bench`: the load generator of `make bench` against a running
// cluster (--addr), starting nothing. The cluster's processes are not ours
// to see, so only the load generator's own CPU is reported.
import { formatFigures, machineLine, medianRows, rowOf, type FigureRow } from '@kvring/bench/report';
import { benchTarget } from '@kvring/bench/run';
import type { ClientMode, OpKind } from '@kvring/bench/load';
import { EXIT_FAILED, EXIT_OK, type Io } from './output.js';

export interface BenchCommandOptions {
  readonly addresses: readonly string[];
  readonly token: string | undefined;
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly ops: number;
  readonly concurrency: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly ringAware: boolean;
  readonly repeat: number;
  readonly threads: number;
  readonly clients: ClientMode;
  readonly phases: readonly OpKind[];
}

export async function benchCommand(opts: BenchCommandOptions, io: Io): Promise<number> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    const runs: FigureRow[] = [];
    for (let r = 1; r <= opts.repeat && !abort.signal.aborted; r++) {
      if (!opts.json)
        io.err(
          `[bench] run ${r}/${opts.repeat}: ${opts.ops} ops per phase (${opts.phases.join(', ')}) ...\n`,
        );
      const figures = await benchTarget(
        { name: 'kvring', addresses: opts.addresses, pids: [], ringAware: opts.ringAware },
        {
          ops: opts.ops,
          concurrency: opts.concurrency,
          keySize: opts.keySize,
          valueSize: opts.valueSize,
          phases: opts.phases,
          clients: opts.clients,
          threads: opts.threads,
          token: opts.token,
          timeoutMs: opts.timeoutMs,
          signal: abort.signal,
        },
      );
      runs.push(...figures.map(rowOf));
    }
    const rows = medianRows(runs);
    if (opts.json) {
      io.out(
        `${JSON.stringify({ machine: machineLine(), config: { ...opts, token: undefined }, figures: rows }, null, 2)}\n`,
      );
    } else {
      io.out(
        `kvring bench against ${opts.addresses.join(', ')}: ${opts.concurrency} concurrent clients, ` +
          `${opts.keySize}-byte keys, ${opts.valueSize}-byte values, ring-aware ${opts.ringAware ? 'yes' : 'no'}` +
          (opts.repeat > 1 ? `; medians of ${opts.repeat} runs` : '') +
          `\nmachine (load generator): ${machineLine()}\n\n${formatFigures(rows, opts.threads)}\n` +
          '(server and PostgreSQL CPU are measured only by `make bench`, which starts the processes)\n',
      );
    }
    return rows.some((r) => r.errors > 0 || r.truncated) ? EXIT_FAILED : EXIT_OK;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
