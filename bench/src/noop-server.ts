// The reference server of `make bench` as a process of its own, so its CPU
// is measured like a node's (see noop-service.ts).
//
//   node bench/dist/noop-server.js [--host 127.0.0.1] [--port 0] [--value-size 128]
//
// Prints `listening HOST:PORT` once bound; SIGTERM/SIGINT stop it.
import { startNoopServer, type NoopServerOptions } from './noop-service.js';

function parseArgs(argv: readonly string[]): NoopServerOptions {
  const opts = { host: '127.0.0.1', port: 0, valueSize: 128 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, raw] = [argv[i], argv[i + 1]];
    if (raw === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--host') opts.host = raw;
    else if (flag === '--port') opts.port = Number(raw);
    else if (flag === '--value-size') opts.valueSize = Number(raw);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
    throw new Error(`--port must be 0..65535`);
  if (!Number.isInteger(opts.valueSize) || opts.valueSize < 0) throw new Error(`--value-size must be >= 0`);
  return opts;
}

async function main(): Promise<void> {
  let opts: NoopServerOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`noop-server: ${(err as Error).message}`);
    process.exit(2);
  }
  const { server, address } = await startNoopServer(opts);
  console.log(`listening ${address}`);
  const stop = (): void => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
