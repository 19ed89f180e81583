// The `kvring` command line: global options, the commands, and the mapping
// of outcomes to exit codes (0 done, 1 failed or not found, 2 usage).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { KvClient } from '@kvring/client';
import { parseDurationMs } from '@kvring/format/units';
import type { ClientMode, OpKind } from '@kvring/bench/load';
import { benchCommand } from './bench-command.js';
import { delCommand, getCommand, mgetCommand, setCommand, type KvCommandContext } from './kv-commands.js';
import { EXIT_FAILED, EXIT_USAGE, describeError, processIo, type Io } from './output.js';
import { statusCommand } from './status.js';
import { ConnectionSettingsError, clientOptions, expandAddresses, type TlsFlags } from './connection.js';

export const DEFAULT_ADDR = '127.0.0.1:50051';
export const DEFAULT_TIMEOUT_MS = 5000;

interface GlobalOptions extends TlsFlags {
  addr: string[];
  token: string | undefined;
  timeout: number;
  json: boolean;
}

const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** `host:port[,host:port...]`, each port 1..65535. */
export function parseAddresses(raw: string): string[] {
  const list = raw
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (list.length === 0) throw new InvalidArgumentError('expected host:port[,host:port...]');
  for (const a of list) {
    const m = ADDRESS.exec(a);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`"${a}" is not host:port`);
  }
  return list;
}

function duration(what: string, min: number) {
  return (raw: string): number => {
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < min)
      throw new InvalidArgumentError(`expected a ${what} like 500ms, 30s, 5m (a bare number is ms)`);
    return ms;
  };
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

function phases(raw: string): OpKind[] {
  const list = raw.split(',').map((p) => p.trim().toLowerCase());
  if (list.length === 0 || list.some((p) => p !== 'set' && p !== 'get'))
    throw new InvalidArgumentError('expected set, get or set,get');
  return list as OpKind[];
}

const HELP_AFTER = `
Values are printed as UTF-8 text; with --json, a value that is not valid
UTF-8 is given in base64 and its "encoding" field says "base64".

Exit codes: 0 done, 1 the call failed or the key was not found (the gRPC
status and the node's message go to stderr, e.g. "INVALID_ARGUMENT: key:
1100 bytes exceeds ..."), 2 the command line was wrong.

Environment: KVRING_ADDR (--addr), KVRING_TOKEN (--token), KVRING_TLS_CA_FILE,
KVRING_TLS_CERT_FILE, KVRING_TLS_KEY_FILE, KVRING_TLS_SERVER_NAME (the --tls-*
flags; in a node's pod the node's own settings make the CLI speak TLS).
A DNS name in --addr (a headless Service) stands for every address it
resolves to.

Examples:
  kvring set greeting hello --ttl 30s
  echo -n hello | kvring set greeting -
  kvring get greeting --addr 127.0.0.3:50051
  kvring mget a b c --json
  kvring cluster status
  kvring get user:1 --addr demo-headless.kvring.svc:50051 --tls-ca ca.crt --token "$TOKEN"
  kvring bench --ops 20000 --addr 127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051`;

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const withClient = async (
    cmd: Command,
    fn: (client: KvClient, g: GlobalOptions) => Promise<number>,
  ): Promise<void> => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    // One command, one or two calls: learning the ring would cost more
    // than it saves, and through a port-forward the members' own addresses
    // are not reachable. Any node coordinates any key.
    const client = new KvClient(await expandAddresses(g.addr), { ...connectOptions(g), ringAware: false });
    try {
      exitCode = await fn(client, g);
    } finally {
      client.close();
    }
  };
  const connectOptions = (g: GlobalOptions) => clientOptions(g.addr, { ...g, timeoutMs: g.timeout });
  const kv = (client: KvClient, g: GlobalOptions): KvCommandContext => ({ client, io, json: g.json });

  const program = new Command('kvring')
    .description(
      'Command line of kvring, the replicated cache: read, write, inspect and benchmark a cluster.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(add --help for usage)')
    .addOption(
      new Option('--addr <host:port,...>', 'node client addresses (the first one is asked first)')
        .env('KVRING_ADDR')
        .default(parseAddresses(DEFAULT_ADDR), DEFAULT_ADDR)
        .argParser(parseAddresses),
    )
    .addOption(new Option('--token <token>', 'bearer token, when the nodes require one').env('KVRING_TOKEN'))
    .addOption(new Option('--tls', "TLS with the system's CAs (implied by --tls-ca)"))
    .addOption(
      new Option('--tls-ca <file>', "PEM CA that signed the nodes' certificate (turns TLS on)").env(
        'KVRING_TLS_CA_FILE',
      ),
    )
    .addOption(
      new Option('--tls-cert <file>', 'PEM client certificate, when the port asks for one').env(
        'KVRING_TLS_CERT_FILE',
      ),
    )
    .addOption(new Option('--tls-key <file>', 'PEM key of --tls-cert').env('KVRING_TLS_KEY_FILE'))
    .addOption(
      new Option(
        '--tls-server-name <name>',
        "name the nodes' certificate must carry (default: the DNS name in --addr)",
      ).env('KVRING_TLS_SERVER_NAME'),
    )
    .option(
      '--timeout <ms>',
      'deadline of each call (500ms, 5s, ...)',
      duration('duration', 1),
      DEFAULT_TIMEOUT_MS,
    )
    .option('--json', 'print results as JSON (binary values in base64)', false)
    .addHelpText('after', HELP_AFTER);

  program
    .command('get')
    .description('print the value of KEY (exit 1 and "not found" on stderr when it has none)')
    .argument('<key>')
    .action((key: string, _o: unknown, cmd: Command) => withClient(cmd, (c, g) => getCommand(kv(c, g), key)));

  program
    .command('set')
    .description('write VALUE ("-" reads standard input) under KEY and print the version it got')
    .argument('<key>')
    .argument('<value>', 'the value, or - to read it from standard input')
    .option(
      '--ttl <duration>',
      "time to live (30s, 5m, 1h; default: the node's default TTL)",
      duration('TTL', 1),
    )
    .action((key: string, value: string, o: { ttl?: number }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const bytes = value === '-' ? await io.readStdin() : Buffer.from(value, 'utf8');
        return setCommand(kv(c, g), key, bytes, o.ttl);
      }),
    );

  program
    .command('del')
    .alias('delete')
    .description("delete KEY (a versioned tombstone) and print the tombstone's version")
    .argument('<key>')
    .action((key: string, _o: unknown, cmd: Command) => withClient(cmd, (c, g) => delCommand(kv(c, g), key)));

  program
    .command('mget')
    .description('print KEY<TAB>VALUE for each key ("(not found)" for a missing one)')
    .argument('<keys...>')
    .action((keys: string[], _o: unknown, cmd: Command) =>
      withClient(cmd, (c, g) => mgetCommand(kv(c, g), keys)),
    );

  const cluster = program.command('cluster').description('inspect the cluster');
  cluster
    .command('status')
    .description(
      'members, their state, ring ownership and incarnation, quorums, dependencies and hints, ' +
        'from the first node that answers; then every member is asked for its ring hash',
    )
    .option(
      '--strict',
      'exit 1 unless every member answers, none is down and all report the same ring',
      false,
    )
    .action(async (o: { strict: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const options = connectOptions(g);
      const connect = (address: string): KvClient => new KvClient(address, options);
      exitCode = await statusCommand(connect, await expandAddresses(g.addr), io, {
        json: g.json,
        strict: o.strict,
      });
    });

  program
    .command('bench')
    .description(
      'run the load generator against the cluster at --addr (starts nothing): SETs of fresh keys, ' +
        'then GETs of them; prints ops/s and latency percentiles. Requests go round-robin over the ' +
        'addresses given (list every node, or use --ring-aware). Exit 1 if any operation failed.',
    )
    .option('--ops <n>', 'operations per phase', integer(1, 10_000_000), 20_000)
    .option('--concurrency <n>', 'concurrent clients (workers)', integer(1, 10_000), 50)
    .option('--value-size <bytes>', 'value size of SETs', integer(0, 1024 * 1024), 128)
    .option('--key-size <bytes>', 'key size', integer(8, 1024), 16)
    .option('--ring-aware', 'send each key straight to one of its replicas', false)
    .option('--repeat <n>', 'runs; figures are the medians', integer(1, 20), 1)
    .option('--threads <n>', 'threads of the load generator (workers split between them)', integer(1, 64), 1)
    .option('--phases <list>', 'set, get or set,get (GETs read the keys the SETs wrote)', phases, [
      'set',
      'get',
    ])
    .addOption(
      new Option('--clients <mode>', 'one shared client or one per worker')
        .choices(['shared', 'per-worker'])
        .default('shared'),
    )
    .action(
      (
        o: {
          ops: number;
          concurrency: number;
          valueSize: number;
          keySize: number;
          ringAware: boolean;
          repeat: number;
          threads: number;
          phases: OpKind[];
          clients: ClientMode;
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        return benchCommand(
          { ...o, addresses: g.addr, token: g.token, timeoutMs: g.timeout, json: g.json },
          io,
        ).then((code) => {
          exitCode = code;
        });
      },
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (err instanceof ConnectionSettingsError) {
      io.err(`kvring: ${err.message}\n`);
      return EXIT_USAGE;
    }
    io.err(`${describeError(err)}\n`);
    return EXIT_FAILED;
  }
}
