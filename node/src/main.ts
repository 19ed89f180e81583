#!/usr/bin/env node
// kvring-node: the process entry. Configuration errors exit 2 with the
// setting named; SIGTERM/SIGINT stop gracefully (the node is PID 1 in its
// container, so it must handle them itself).
import { ConfigError, loadConfig, usage } from './config/config.js';
import { createLogger } from './log.js';
import { KvNode } from './node.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return;
  }
  let cfg;
  try {
    cfg = loadConfig(process.env, argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kvring-node: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.logLevel, { member: cfg.nodeName });
  const node = new KvNode(cfg, log);
  let signals = 0;
  const onSignal = (sig: string): void => {
    if (++signals > 1) {
      log.warn({ sig }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ sig }, 'stopping');
    node.stop().then(
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
