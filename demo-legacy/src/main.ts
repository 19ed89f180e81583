// The demo legacy API as a process:
//   node demo-legacy/dist/main.js --host 127.0.0.1 --port 8090 --keys 1000
// It logs one JSON line with its `url` once listening (tests read it to learn
// the port when started with --port 0) and exits 0 on SIGTERM or SIGINT.
import { createLogger } from './log.js';
import { DEMO_LEGACY_USAGE, parseDemoLegacyArgs, type DemoLegacyArgs } from './args.js';
import { startDemoLegacy } from './server.js';

async function main(): Promise<void> {
  let args: DemoLegacyArgs;
  try {
    args = parseDemoLegacyArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`demo-legacy: ${(err as Error).message}\n${DEMO_LEGACY_USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(DEMO_LEGACY_USAGE);
    return;
  }
  const log = createLogger(process.env['LOG_LEVEL'] ?? 'info', { component: 'demo-legacy' });
  const server = await startDemoLegacy({
    host: args.host,
    port: args.port,
    seed: args.keys,
    latencyMs: args.latencyMs,
    failureRate: args.failureRate,
    token: args.token,
    log,
  }).catch((err: unknown) => {
    log.fatal({ err }, `demo legacy API cannot listen on ${args.host}:${args.port}`);
    process.exit(1);
  });
  log.info(
    { url: server.url, keys: args.keys, latencyMs: args.latencyMs, failureRate: args.failureRate },
    `demo legacy API listening on ${server.url}`,
  );
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'demo legacy API stopping');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'demo legacy API failed to close');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
