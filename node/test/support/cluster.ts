// One real test environment: embedded PostgreSQL, the demo legacy API as a
// process, and N node processes on their own loopback addresses.
import pg from 'pg';
import { startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { KvClient } from '@kvring/client';
import { startPostgres, type TestPostgres } from './postgres.js';
import { startLegacyProcess, type LegacyProcess } from './legacy.js';

export interface TestEnv {
  readonly pg: TestPostgres;
  readonly legacy: LegacyProcess;
  readonly cluster: LocalCluster;
  /** A client per node, so tests can pick the coordinator. */
  readonly clients: KvClient[];
  sql<T extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

/** Settings of tests that stop or kill nodes under load: failures seen and repaired within about a second. */
export const FAST_REPAIR_ENV: Readonly<Record<string, string>> = {
  KVRING_FAILURE_TIMEOUT: '1s',
  KVRING_PEER_TIMEOUT: '500ms',
  KVRING_ANTI_ENTROPY_INTERVAL: '1s',
  KVRING_LOG_LEVEL: 'warn',
};

export async function startTestEnv(
  opts: {
    nodes?: number;
    env?: Record<string, string>;
    /** Settings of one node (by index), over `env`. */
    nodeEnv?: (index: number) => Record<string, string>;
    legacyKeys?: number;
    /** The node program of member i (default: this checkout's build). */
    program?: (index: number) => string;
  } = {},
): Promise<TestEnv> {
  const db = await startPostgres();
  let legacy: LegacyProcess | undefined;
  let cluster: LocalCluster | undefined;
  try {
    legacy = await startLegacyProcess({ keys: opts.legacyKeys ?? 1000 });
    cluster = await startLocalCluster({
      nodes: opts.nodes ?? 3,
      postgresUrl: db.url,
      legacyUrl: legacy.url,
      env: { KVRING_LOG_LEVEL: 'info', ...opts.env },
      nodeEnv: opts.nodeEnv,
      ...(opts.program ? { program: opts.program } : {}),
    });
  } catch (err) {
    await legacy?.stop();
    await db.destroy();
    throw err;
  }
  const clients = cluster.nodes.map((n) => new KvClient(n.clientAddress, { timeoutMs: 15_000 }));
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // Tests stop PostgreSQL on purpose; idle connections then error.
  pool.on('error', () => undefined);
  const c = cluster;
  const l = legacy;
  return {
    pg: db,
    legacy: l,
    cluster: c,
    clients,
    async sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []) {
      return (await pool.query<T>(text, params)).rows;
    },
    async stop() {
      for (const cl of clients) cl.close();
      await pool.end();
      await c.stop();
      await l.stop();
      await db.destroy();
    },
  };
}
