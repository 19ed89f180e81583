// `make bench`: the prototype's benchmark shape (20,000 SETs then 20,000
// GETs from 50 concurrent clients, 16-byte keys, 128-byte values) against a
// local cluster it starts (embedded PostgreSQL + N node processes on a random
// loopback subnet), and the same load against a no-op grpc-js server (the
// ceiling for this design), in one run. Prints throughput, latency
// percentiles and CPU per operation of the nodes, PostgreSQL and the load
// generator. Everything it starts it stops, on success, error, time bound
// or Ctrl-C.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import type { Child } from '@kvring/devcluster/process';
import { clockTicks } from './cpu.js';
import { intOption } from './options.js';
import type { ClientMode } from './load.js';
import {
  formatFigures,
  formatRatios,
  machineLine,
  medianRows,
  rowOf,
  throughputRatios,
  type FigureRow,
} from './report.js';
import { formatComparisons } from './compare.js';
import { ensureRedis, startRedis, type RedisHandle } from './redis.js';
import { benchTarget, type BenchOptions, type BenchTarget } from './run.js';
import { startNoop } from './servers.js';

const NOOP_NAME = 'no-op grpc-js';

interface MainOptions {
  ops: number;
  concurrency: number;
  valueSize: number;
  keySize: number;
  nodes: number;
  ringAware: boolean;
  json: boolean;
  repeat: number;
  reference: boolean;
  pipelined: boolean;
  redis: boolean;
  clients: ClientMode;
  threads: number;
  maxSeconds: number;
}

function parseArgs(argv: readonly string[]): MainOptions {
  const program = new Command('bench')
    .description(
      'Start PostgreSQL and a local kvring cluster, run SETs then GETs against it and against a ' +
        'no-op grpc-js server, and print throughput, latency percentiles and CPU per operation.',
    )
    .option('--ops <n>', 'operations per phase', intOption(1, 10_000_000), 20_000)
    .option('--concurrency <n>', 'concurrent clients (workers)', intOption(1, 10_000), 50)
    .option('--value-size <bytes>', 'value size of SETs', intOption(0, 1024 * 1024), 128)
    .option('--key-size <bytes>', 'key size (>= 8)', intOption(8, 1024), 16)
    .option('--nodes <n>', 'kvring nodes to start', intOption(1, 9), 3)
    .option('--ring-aware', 'send each key straight to one of its replicas', false)
    .option('--repeat <n>', 'runs of both targets; figures are the medians', intOption(1, 20), 1)
    .option('--no-reference', 'skip the no-op grpc-js server')
    .option('--no-pipelined', 'skip kvring through the auto-batching Pipeline client')
    .option('--no-redis', 'skip Redis (default persistence, and appendfsync always)')
    .addOption(
      new Option('--clients <mode>', 'one shared client or one per worker')
        .choices(['shared', 'per-worker'])
        .default('shared'),
    )
    .option(
      '--threads <n>',
      'threads of the load generator (workers split between them)',
      intOption(1, 64),
      1,
    )
    .option('--max-seconds <s>', 'bound on the whole run', intOption(10, 24 * 3600), 900)
    .option('--json', 'print the figures as JSON on stdout (progress goes to stderr)', false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number; code?: string }).code;
    process.exit(code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2);
  }
  return program.opts<MainOptions>();
}

/** PostgreSQL's postmaster pid, from the first line of postmaster.pid in its data directory. */
function postmasterPid(pg: EmbeddedPostgresHandle): number | undefined {
  try {
    const pid = Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const progress = (msg: string): void => {
    process.stderr.write(`[bench] ${msg}\n`);
  };

  // The start of each process, kept so that a stop arriving while one is
  // starting waits for it and stops it too (nothing is left behind).
  let pgStart: Promise<EmbeddedPostgresHandle> | undefined;
  let clusterStart: Promise<LocalCluster> | undefined;
  let noopStart: Promise<{ child: Child; address: string }> | undefined;
  const redisStarts: Array<Promise<RedisHandle>> = [];
  const abort = new AbortController();
  let cleaning: Promise<void> | undefined;
  const settled = <T>(p: Promise<T> | undefined): Promise<T | undefined> =>
    p ? p.catch(() => undefined) : Promise.resolve(undefined);
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await (await settled(noopStart))?.child.stop(2000).catch(() => undefined);
      for (const r of redisStarts) await (await settled(r))?.stop().catch(() => undefined);
      await (await settled(clusterStart))?.stop().catch(() => undefined);
      await (await settled(pgStart))?.destroy().catch(() => undefined);
    })());
  const fail = async (msg: string, code: number): Promise<never> => {
    process.stderr.write(`[bench] ${msg}\n`);
    abort.abort();
    await cleanup();
    process.exit(code);
  };
  // embedded-postgres (async-exit-hook) would exit on the first signal after
  // stopping only PostgreSQL, orphaning the nodes: this script stops all.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => void fail('interrupted: stopping everything', 130));
  process.on('SIGTERM', () => void fail('terminated: stopping everything', 143));
  const bound = setTimeout(
    () => void fail(`time bound of ${opts.maxSeconds}s reached: stopping everything`, 1),
    opts.maxSeconds * 1000,
  );
  bound.unref();

  try {
    const subnet = randomSubnet();
    progress('starting PostgreSQL (embedded) ...');
    const pg = await (pgStart = launchEmbeddedPostgres());
    if (abort.signal.aborted) return; // fail() is stopping everything and exits
    progress(`starting ${opts.nodes} nodes on ${subnet}.1-${opts.nodes} ...`);
    const cluster = await (clusterStart = startLocalCluster({
      nodes: opts.nodes,
      subnet,
      postgresUrl: pg.url,
    }));
    if (abort.signal.aborted) return;
    const kvring: BenchTarget = {
      name: `kvring unary (${opts.nodes} node${opts.nodes === 1 ? '' : 's'})`,
      addresses: cluster.clientAddresses,
      pids: cluster.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined),
      postgresPid: postmasterPid(pg),
      ringAware: opts.ringAware,
    };
    const targets: BenchTarget[] = [kvring];
    const pipelined: BenchTarget | undefined = opts.pipelined
      ? { ...kvring, name: kvring.name.replace('unary', 'pipelined'), protocol: 'pipelined' }
      : undefined;
    if (pipelined) targets.push(pipelined);
    let reference: BenchTarget | undefined;
    if (opts.reference) {
      const noop = await (noopStart = startNoop(`${subnet}.200`, opts.valueSize));
      if (abort.signal.aborted) return;
      reference = { name: NOOP_NAME, addresses: [noop.address], pids: [noop.child.pid!] };
      targets.push(reference);
    }
    const redis: BenchTarget[] = [];
    if (opts.redis) {
      ensureRedis();
      for (const [i, persistence] of (['default', 'aof-always'] as const).entries()) {
        const start = startRedis(`${subnet}.${201 + i}`, persistence);
        redisStarts.push(start);
        const r = await start;
        if (abort.signal.aborted) return;
        redis.push({ name: r.name, addresses: [r.address], pids: [r.pid], protocol: 'redis' });
      }
      targets.push(...redis);
    }

    const bench: BenchOptions = {
      ops: opts.ops,
      concurrency: opts.concurrency,
      keySize: opts.keySize,
      valueSize: opts.valueSize,
      clients: opts.clients,
      threads: opts.threads,
      maxPhaseMs: opts.maxSeconds * 1000,
      signal: abort.signal,
    };
    const runs: FigureRow[][] = [];
    for (let r = 1; r <= opts.repeat; r++) {
      const rows: FigureRow[] = [];
      // Interleaved: each repeat runs every target, so drifts of a shared
      // machine's load touch them all alike.
      for (const target of targets) {
        if (abort.signal.aborted) return; // fail() is stopping everything and exits
        progress(`run ${r}/${opts.repeat}: ${target.name}: ${opts.ops} SETs then ${opts.ops} GETs ...`);
        rows.push(...(await benchTarget(target, bench)).map(rowOf));
      }
      runs.push(rows);
      if (!opts.json && opts.repeat > 1) console.log(`run ${r}:\n${formatFigures(rows, opts.threads)}\n`);
    }
    const figures = medianRows(runs.flat());
    const ratios = reference ? throughputRatios(figures, kvring.name, reference.name) : [];
    const config = {
      ops: opts.ops,
      concurrency: opts.concurrency,
      keySize: opts.keySize,
      valueSize: opts.valueSize,
      nodes: opts.nodes,
      ringAware: opts.ringAware,
      clients: opts.clients,
      threads: opts.threads,
      repeat: opts.repeat,
      clockTicksPerSecond: clockTicks(),
    };
    if (opts.json) {
      console.log(JSON.stringify({ machine: machineLine(), config, figures, ratios, runs }, null, 2));
    } else {
      console.log(
        `kvring bench: ${opts.nodes} nodes with PostgreSQL write-through, ${opts.concurrency} concurrent ` +
          `clients (${opts.clients} client, ${opts.threads} load generator thread${opts.threads === 1 ? '' : 's'}), ${opts.ops} ops per phase, ${opts.keySize}-byte keys, ` +
          `${opts.valueSize}-byte values, ring-aware ${opts.ringAware ? 'yes' : 'no'}` +
          (opts.repeat > 1 ? `; medians of ${opts.repeat} runs` : ''),
      );
      console.log(`machine: ${machineLine()}\n`);
      console.log(formatFigures(figures, opts.threads));
      if (reference) console.log(`\n${formatRatios(ratios, 'kvring unary', NOOP_NAME)}`);
      const comparisons = formatComparisons(figures, pipelined?.name, redis[0]?.name, redis[1]?.name);
      if (comparisons) console.log(comparisons);
      console.log(
        '\nCPU ms/op: CPU time (utime+stime from /proc) of the server processes, PostgreSQL (postmaster ' +
          'and backends) and this load generator during the phase, divided by its successful operations; ' +
          'cores: that CPU time over the wall time of the phase.',
      );
    }
    clearTimeout(bound);
    await cleanup();
    process.exit(0);
  } catch (err) {
    // After Ctrl-C or the time bound, errors of the processes being stopped are expected.
    if (abort.signal.aborted) return;
    await fail(`failed: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

void main();
