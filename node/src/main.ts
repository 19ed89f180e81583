#!/usr/bin/env node
// kvring-node: the process entry. Configuration errors exit 2 with the
// setting named; SIGTERM/SIGINT stop gracefully (the node is PID 1 in its
// container, so it must handle them itself).
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, usage } from './config/config.js';
import { createLogger } from './log.js';
import { KvNode } from './node.js';
import { startTracing } from './tracing/sdk.js';
import { tracingSettings, type TracingSettings } from './tracing/settings.js';
import { logIds } from './tracing/tracer.js';

const VERSION = packageVersion();

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return;
  }
  let cfg;
  let tracing: TracingSettings | undefined;
  try {
    cfg = loadConfig(process.env, argv);
    tracing = tracingSettings(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kvring-node: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // Tracing starts before anything that takes a request, so every span has
  // its exporter; log lines carry the active span's ids only when it is on.
  const traces = tracing
    ? await startTracing(tracing, { serviceName: 'kvring-node', instanceId: cfg.nodeName, version: VERSION })
    : undefined;
  const log = createLogger(cfg.logLevel, { member: cfg.nodeName }, traces ? logIds : undefined);
  if (tracing) log.info({ protocol: tracing.protocol }, 'tracing on (OTEL_* settings)');
  const node = new KvNode(cfg, log);
  const stop = async (): Promise<void> => {
    await node.stop();
    // Spans of the last requests are exported before the process exits.
    await traces?.shutdown().catch((err: Error) => log.warn({ err }, 'trace export at stop failed'));
  };
  let signals = 0;
  const onSignal = (sig: string): void => {
    if (++signals > 1) {
      log.warn({ sig }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ sig }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await node.start();
  } catch (err) {
    log.fatal({ err }, 'node failed to start');
    await node.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
