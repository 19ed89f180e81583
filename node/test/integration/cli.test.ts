// The compiled `kvring` CLI (cli/dist/main.js) run as a child
// process against three real node processes, a real PostgreSQL and the real
// demo legacy API: its output and exit codes are what scripts rely on.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { startLegacyProcess, type LegacyProcess } from '../support/legacy.js';
import { CLI, runCli } from '../support/cli.js';

let postgres: EmbeddedPostgresHandle | undefined;
let legacy: LegacyProcess | undefined;
let cluster: LocalCluster | undefined;
let addrs: string[] = [];

/** Runs the CLI with `args` (and `stdin`) against this file's cluster. */
function kvring(
  args: readonly string[],
  opts: { stdin?: Buffer | string; env?: Record<string, string> } = {},
) {
  return runCli(args, {
    stdin: opts.stdin,
    env: { KVRING_ADDR: addrs.join(','), KVRING_TOKEN: '', ...opts.env },
  });
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres!.url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` first`);
  postgres = await launchEmbeddedPostgres();
  legacy = await startLegacyProcess({ keys: 100 });
  cluster = await startLocalCluster({
    nodes: 3,
    subnet: randomSubnet(),
    postgresUrl: postgres.url,
    legacyUrl: legacy.url,
  });
  addrs = cluster.clientAddresses;
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await legacy?.stop();
  await postgres?.destroy();
}, 60_000);

describe('kvring get/set/del/mget', () => {
  it('set prints the version; get prints the value through every node', async () => {
    const set = await kvring(['set', 'cli:greeting', 'hello wörld']);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const version = Number(set.stdout.trim());
    expect(version).toBeGreaterThanOrEqual(1);
    for (const addr of addrs) {
      const get = await kvring(['get', 'cli:greeting', '--addr', addr]);
      expect(get).toMatchObject({ code: 0, stdout: 'hello wörld\n', stderr: '' });
    }
    const json = await kvring(['--json', 'get', 'cli:greeting']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      key: 'cli:greeting',
      found: true,
      value: 'hello wörld',
      encoding: 'utf8',
      version,
      source: 'memory',
    });
  });

  it('reads the value from standard input with "-" and gives binary values in base64 with --json', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x10, 0x80, 0x41]);
    const set = await kvring(['set', 'cli:binary', '-'], { stdin: bytes });
    expect(set.code).toBe(0);
    const get = await kvring(['get', 'cli:binary', '--json']);
    expect(get.code).toBe(0);
    const doc = JSON.parse(get.stdout) as { value: string; encoding: string; found: boolean };
    expect(doc).toMatchObject({ found: true, encoding: 'base64' });
    expect(Buffer.from(doc.value, 'base64')).toEqual(bytes);
    const rows = await sql<{ value: Buffer }>('select value from kv_store where key = $1', ['cli:binary']);
    expect(rows[0]!.value).toEqual(bytes);
  });

  it('get of a missing key exits 1 with "not found" on stderr and nothing on stdout', async () => {
    const get = await kvring(['get', 'cli:never-written']);
    expect(get.code).toBe(1);
    expect(get.stdout).toBe('');
    expect(get.stderr).toMatch(/not found/);
    const json = await kvring(['get', 'cli:never-written', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ key: 'cli:never-written', found: false, value: null });
  });

  it('del prints the tombstone version; the key is gone afterwards, in PostgreSQL too', async () => {
    const v1 = Number((await kvring(['set', 'cli:doomed', 'x'])).stdout);
    const del = await kvring(['del', 'cli:doomed', '--addr', addrs[1]!]);
    expect(del.code).toBe(0);
    expect(Number(del.stdout)).toBeGreaterThan(v1);
    const get = await kvring(['get', 'cli:doomed', '--addr', addrs[2]!]);
    expect(get.code).toBe(1);
    const rows = await sql<{ tombstone: boolean }>('select tombstone from kv_store where key = $1', [
      'cli:doomed',
    ]);
    expect(rows[0]!.tombstone).toBe(true);
  });

  it('set --ttl stores the expiry', async () => {
    const set = await kvring(['set', 'cli:ttl', 'short-lived', '--ttl', '1h']);
    expect(set.code).toBe(0);
    const rows = await sql<{ seconds: number }>(
      'select extract(epoch from expires_at - now())::float8 as seconds from kv_store where key = $1',
      ['cli:ttl'],
    );
    expect(rows[0]!.seconds).toBeGreaterThan(3500);
    expect(rows[0]!.seconds).toBeLessThanOrEqual(3600);
  });

  it('mget prints KEY<TAB>VALUE per key, "(not found)" for a missing one, and reads through the legacy API', async () => {
    await kvring(['set', 'cli:m1', 'one']);
    await kvring(['set', 'cli:m2', 'two']);
    const r = await kvring(['mget', 'cli:m1', 'cli:missing', 'cli:m2', 'user:7']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual(['cli:m1\tone', 'cli:missing\t(not found)', 'cli:m2\ttwo']);
    expect(lines[3]).toMatch(/^user:7\t.*"id":7/);
    const json = await kvring(['mget', 'cli:m1', 'cli:missing', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([
      { key: 'cli:m1', found: true, value: 'one', encoding: 'utf8', version: expect.any(Number) },
      { key: 'cli:missing', found: false, value: null, encoding: null, version: 0 },
    ]);
  });
});

describe('kvring errors and exit codes', () => {
  it('an oversized key: exit 1 with LIMIT_EXCEEDED, the field and the limit, and the node keeps serving', async () => {
    const r = await kvring(['set', 'k'.repeat(1100), 'v']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^LIMIT_EXCEEDED \(key, limit 1024\): key: 1100 bytes exceeds .*1024/);
    expect((await kvring(['get', 'cli:greeting'])).code).toBe(0);
  });

  it('a node nobody listens on: exit 1 with UNAVAILABLE', async () => {
    const r = await kvring(['get', 'x', '--addr', `${addrs[0]!.split(':')[0]}:1`, '--timeout', '3s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^UNAVAILABLE: /);
  });

  it.each([
    [['get'], /missing required argument 'key'/],
    [['set', 'k', 'v', '--ttl', 'soon'], /--ttl/],
    [['--addr', 'nohostport', 'get', 'k'], /is not host:port/],
    [['--timeout', '-1', 'get', 'k'], /--timeout/],
    [['frobnicate'], /unknown command/],
    [['bench', '--ops', '0'], /--ops/],
  ])('usage error %j: exit 2 with a message', async (args, message) => {
    const r = await kvring(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--help exits 0 and says how binary values are shown', async () => {
    const r = await kvring(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/base64/);
  });
});

describe('kvring bench', () => {
  it('runs SETs then GETs against the cluster and prints both rows without errors', async () => {
    const r = await kvring(['bench', '--ops', '300', '--concurrency', '8', '--ring-aware']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kvring\s+SET\s+[\d,]+\s/m);
    expect(r.stdout).toMatch(/^kvring\s+GET\s+[\d,]+\s/m);
    const json = await kvring(['bench', '--ops', '100', '--concurrency', '4', '--json']);
    const doc = JSON.parse(json.stdout) as {
      figures: Array<{ op: string; ok: number; errors: number; notFound: number }>;
    };
    expect(doc.figures.map((f) => [f.op, f.ok, f.errors, f.notFound])).toEqual([
      ['set', 100, 0, 0],
      ['get', 100, 0, 0],
    ]);
  });
});

// Last: it stops a node.
describe('kvring cluster status', () => {
  it('lists every member with its address and ownership, and says the ring has converged', async () => {
    const r = await kvring(['cluster', 'status']);
    expect(r.code).toBe(0);
    for (const [i, n] of cluster!.nodes.entries()) {
      expect(r.stdout).toMatch(
        new RegExp(`^${n.name}\\s+(self|up)\\s+${addrs[i]!.replace(/\./g, '\\.')}\\s+\\d+\\.\\d%`, 'm'),
      );
    }
    expect(r.stdout).toMatch(/all 3 members report the same ring/);
    expect(r.stdout).toMatch(/N=3 R=2 W=2/);
    expect(r.stdout).toMatch(/PostgreSQL\s+reachable from 3\/3 members/);
    expect(r.stdout).toMatch(/legacy API\s+reachable from 3\/3 members/);

    const json = await kvring(['cluster', 'status', '--json', '--strict']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      converged: boolean;
      ringHash: string;
      members: Array<{ name: string; ringHash: string; ownership: number }>;
    };
    expect(doc.converged).toBe(true);
    expect(doc.members.map((m) => m.name).sort()).toEqual(['kv-0', 'kv-1', 'kv-2']);
    expect(new Set(doc.members.map((m) => m.ringHash))).toEqual(new Set([doc.ringHash]));
    expect(doc.members.reduce((s, m) => s + m.ownership, 0)).toBeCloseTo(1, 6);
  });

  it('names a member that does not answer, and --strict then exits 1', async () => {
    await cluster!.nodes[2]!.stop();
    const r = await kvring(['cluster', 'status', '--timeout', '2s']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NOT converged \(kv-2 did not answer\)/);
    expect(r.stdout).toMatch(/^kv-2 \(.*\): UNAVAILABLE/m);
    const strict = await kvring(['cluster', 'status', '--strict', '--timeout', '2s']);
    expect(strict.code).toBe(1);
  });
});
