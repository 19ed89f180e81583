// `make run`: an embedded PostgreSQL (data kept in .cache/run/postgres), the
// demo legacy API on 127.0.0.1:8090 and three nodes on 127.0.0.1, .2 and .3
// with the default ports. Ctrl-C stops everything and leaves no process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres.js';
import { LEGACY_MAIN, startLocalCluster, type LocalCluster } from './local-cluster.js';
import { Child } from './process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_DIR = join(ROOT, '.cache', 'run');
const LEGACY_URL = 'http://127.0.0.1:8090';

async function main(): Promise<void> {
  mkdirSync(RUN_DIR, { recursive: true });
  let pg: EmbeddedPostgresHandle | undefined;
  let legacy: Child | undefined;
  let cluster: LocalCluster | undefined;
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (stopping) process.exit(code);
    stopping = true;
    console.log('\nstopping: nodes, legacy API, PostgreSQL ...');
    await cluster?.stop().catch(() => undefined);
    await legacy?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    console.log('stopped.');
    process.exit(code);
  };
  // embedded-postgres (through async-exit-hook) exits the process on the
  // first SIGINT/SIGTERM after stopping PostgreSQL, which would orphan the
  // nodes; this script stops everything itself, in order.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    console.log('starting PostgreSQL (embedded) ...');
    pg = await launchEmbeddedPostgres({ dataDir: join(RUN_DIR, 'postgres'), port: 5433 });
    console.log(`  ${pg.url}`);
    legacy = new Child({
      name: 'legacy',
      command: process.execPath,
      args: [LEGACY_MAIN, '--host', '127.0.0.1', '--port', '8090', '--keys', '1000'],
      env: {},
      logFile: join(RUN_DIR, 'legacy.log'),
    });
    legacy.start();
    console.log(`starting the demo legacy API on ${LEGACY_URL} ...`);
    console.log('starting 3 nodes on 127.0.0.1, 127.0.0.2, 127.0.0.3 ...');
    cluster = await startLocalCluster({
      nodes: 3,
      subnet: '127.0.0',
      postgresUrl: pg.url,
      legacyUrl: LEGACY_URL,
      logDir: RUN_DIR,
    });
  } catch (err) {
    console.error(`make run failed: ${(err as Error).message}`);
    return stopAll(1);
  }
  console.log(`
kvring is running: 3 nodes, PostgreSQL write-through, legacy read-through.

  nodes     kv-0 127.0.0.1   kv-1 127.0.0.2   kv-2 127.0.0.3
            client gRPC :50051   peer gRPC :50052   HTTP :8080 (/metrics /healthz /readyz)
  postgres  ${pg.url}
  legacy    ${LEGACY_URL}/legacy/data/user:1
  logs      ${RUN_DIR}/*.log

Try (in another terminal):
  ./kvring set greeting hello            # write through any node (KVRING_ADDR, default 127.0.0.1:50051)
  ./kvring get greeting --addr 127.0.0.3:50051
  ./kvring get user:42                   # read through from the legacy API
  ./kvring del greeting
  ./kvring cluster status
  ./kvring bench --ops 20000
  grpcurl -plaintext 127.0.0.1:50051 list  # (make tools builds grpcurl into .cache/bin)
  grpcurl -plaintext -d '{"key":"user:7"}' 127.0.0.2:50051 kvring.v1.KVService/Get
  curl -s 127.0.0.1:8080/metrics | grep kvring_requests_total

Ctrl-C stops everything.`);
}

void main();
