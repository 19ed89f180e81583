// `make bench`, tracing part (issue 14): the server CPU per operation of a
// 3-node cluster with tracing off, at sampling ratio 0.01 and at 1.0, each
// exporting OTLP to a real Jaeger (scripts/jaeger/build.sh). The three
// clusters run side by side on one embedded PostgreSQL (a table each) and
// are measured in turns, repeat after repeat, so a shared machine's drifts
// touch them alike; the table gives each one's median and spread (min..max)
// and the median's change against tracing off.
import { Command } from 'commander';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { startJaeger, type Jaeger } from '@kvring/devcluster/jaeger';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import type { OpKind } from './load.js';
import { intOption } from './options.js';
import { machineLine, median, renderTable } from './report.js';
import { benchTarget, type BenchTarget } from './run.js';

interface Options {
  ops: number;
  concurrency: number;
  repeat: number;
}

function parseArgs(argv: readonly string[]): Options {
  return new Command('bench-tracing')
    .description(
      'Server CPU per operation with tracing off, at ratio 0.01 and at 1.0 (OTLP to a real Jaeger).',
    )
    .option('--ops <n>', 'operations per phase', intOption(100, 1_000_000), 5000)
    .option('--concurrency <n>', 'concurrent clients', intOption(1, 1000), 50)
    .option('--repeat <n>', 'interleaved repeats (medians and spread)', intOption(1, 50), 5)
    .parse([...argv], { from: 'user' })
    .opts<Options>();
}

interface Setting {
  readonly name: string;
  readonly table: string;
  readonly env: Record<string, string>;
}

function settings(jaeger: Jaeger): Setting[] {
  const on = (ratio: string): Record<string, string> => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: ratio,
  });
  return [
    { name: 'tracing off', table: 'kv_trace_off', env: {} },
    { name: 'ratio 0.01', table: 'kv_trace_001', env: on('0.01') },
    { name: 'ratio 1.0', table: 'kv_trace_1', env: on('1') },
  ];
}

const fmt = (n: number): string => n.toFixed(3);

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const progress = (msg: string): void => void process.stderr.write(`[bench-tracing] ${msg}\n`);
  let pg: EmbeddedPostgresHandle | undefined;
  let jaeger: Jaeger | undefined;
  const clusters: LocalCluster[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of clusters) await c.stop().catch(() => undefined);
    await jaeger?.stop().catch(() => undefined);
    await pg?.destroy().catch(() => undefined);
  };
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    progress('starting PostgreSQL (embedded) and Jaeger ...');
    pg = await launchEmbeddedPostgres();
    jaeger = await startJaeger();
    const targets: BenchTarget[] = [];
    for (const s of settings(jaeger)) {
      const subnet = randomSubnet();
      progress(`starting 3 nodes on ${subnet}.1-3 (${s.name}) ...`);
      const cluster = await startLocalCluster({
        nodes: 3,
        subnet,
        postgresUrl: pg.url,
        // A long failure timeout: on a crowded machine a node that stalls
        // for seconds would be marked down and fail writes, which is not
        // what this measures.
        env: {
          KVRING_POSTGRES_TABLE: s.table,
          KVRING_LOG_LEVEL: 'warn',
          KVRING_FAILURE_TIMEOUT: '15s',
          ...s.env,
        },
      });
      clusters.push(cluster);
      targets.push({
        name: s.name,
        addresses: cluster.clientAddresses,
        pids: cluster.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined),
      });
    }
    const cpu = new Map<string, number[]>();
    const errors = new Map<string, number>();
    for (let r = 1; r <= opts.repeat; r++)
      for (const target of targets) {
        progress(`run ${r}/${opts.repeat}: ${target.name}: ${opts.ops} SETs then ${opts.ops} GETs ...`);
        for (const f of await benchTarget(target, {
          ops: opts.ops,
          concurrency: opts.concurrency,
          keySize: 16,
          valueSize: 128,
        })) {
          const k = `${target.name}|${f.op}`;
          errors.set(k, (errors.get(k) ?? 0) + f.result.errors);
          if (f.result.errors > 0)
            progress(`${target.name} ${f.op}: ${f.result.errors} errors: ${f.result.firstError}`);
          cpu.set(k, [...(cpu.get(k) ?? []), f.serverCpuMsPerOp ?? Number.NaN]);
        }
      }
    console.log(
      `kvring tracing overhead: 3 nodes, ${opts.concurrency} concurrent clients, ${opts.ops} ops per phase, ` +
        `${opts.repeat} interleaved repeats; OTLP http/protobuf to Jaeger on loopback`,
    );
    console.log(`machine: ${machineLine()}\n`);
    const rows: string[][] = [];
    for (const op of ['set', 'get'] as OpKind[]) {
      const off = median(cpu.get(`tracing off|${op}`) ?? []);
      for (const t of targets) {
        const v = cpu.get(`${t.name}|${op}`) ?? [];
        const m = median(v);
        const delta = t.name === 'tracing off' ? '' : `${(((m - off) / off) * 100).toFixed(1)}%`;
        rows.push([
          op.toUpperCase(),
          t.name,
          fmt(m),
          `${fmt(Math.min(...v))}..${fmt(Math.max(...v))}`,
          delta,
          String(errors.get(`${t.name}|${op}`) ?? 0),
        ]);
      }
    }
    console.log(
      renderTable(
        ['op', 'tracing', 'server CPU ms/op (median)', 'spread (min..max)', 'vs off', 'errors'],
        rows,
      ),
    );
    console.log(
      '\nserver CPU ms/op: utime+stime (from /proc) of the three node processes during the phase over its ' +
        'operations. Where the spread of "tracing off" alone is wider than a change, that change is noise.',
    );
    await cleanup();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`[bench-tracing] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exit(1);
  }
}

void main();
