// The quickstarts (quickstarts/go, quickstarts/python), built as their
// build.sh builds them and run against a real 3-node cluster on loopback with
// an embedded PostgreSQL: each sets a key, reads it back, deletes it, and
// prints the gRPC code of a refused write, with its reason when the node
// sends error details (then the reason must be LIMIT_EXCEEDED).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { join } from 'node:path';
import { KvClient } from '@kvring/client';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { startFailingNode } from './support/quickstart-fake-node.js';
import { refusedSetStatus, type WireStatus } from './support/quickstart-status.js';
import { REPO_ROOT, run, runOk } from './support/tools.js';

// Cold: the Go modules, the protoc plugins and the Python wheels come from
// the registries; warm: everything is cached and a build takes seconds.
const BUILD_TIMEOUT_MS = 10 * 60_000;
const RUN_TIMEOUT_MS = 60_000;
// Over the node's default key limit (1024 bytes): what the programs send.
const OVERSIZED_KEY = 'k'.repeat(64 * 1024);

interface Quickstart {
  readonly name: 'go' | 'python';
  /** The gRPC code name as the language's library prints it. */
  readonly codeName: (code: number) => string;
  command(addrs: string, key: string, value: string): [string, string[]];
}

// Built in beforeAll: the Go binary, the virtual environment's python.
const built = { go: '', python: '' };

const QUICKSTARTS: Quickstart[] = [
  {
    name: 'go',
    // codes.Code's String(): INVALID_ARGUMENT is InvalidArgument; Go spells CANCELLED Canceled.
    codeName: (code) =>
      status[code] === 'CANCELLED'
        ? 'Canceled'
        : status[code]!.split('_')
            .map((w) => w[0] + w.slice(1).toLowerCase())
            .join(''),
    command: (addrs, key, value) => [built.go, ['-addr', addrs, '-key', key, '-value', value]],
  },
  {
    name: 'python',
    codeName: (code) => status[code]!,
    command: (addrs, key, value) => [
      built.python,
      [join(REPO_ROOT, 'quickstarts/python/quickstart.py'), '--addr', addrs, '--key', key, '--value', value],
    ],
  },
];

let db: EmbeddedPostgresHandle | undefined;
let cluster: LocalCluster | undefined;
let client: KvClient;
let refused: WireStatus;

async function build(name: Quickstart['name']): Promise<string> {
  const t0 = performance.now();
  const out = await runOk('bash', [join(REPO_ROOT, 'quickstarts', name, 'build.sh')], {
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  process.stderr.write(`quickstarts/${name} built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return out.trim().split('\n').at(-1)!;
}

async function startCluster(): Promise<LocalCluster> {
  db = await launchEmbeddedPostgres();
  return startLocalCluster({ nodes: 3, postgresUrl: db.url });
}

beforeAll(async () => {
  const [go, python, started] = await Promise.allSettled([build('go'), build('python'), startCluster()]);
  // A started cluster is kept even when a build failed, so afterAll stops it.
  if (started.status === 'fulfilled') cluster = started.value;
  if (go.status === 'rejected') throw go.reason;
  if (python.status === 'rejected') throw python.reason;
  if (started.status === 'rejected') throw started.reason;
  built.go = go.value;
  built.python = python.value;
  client = new KvClient(started.value.clientAddresses, { timeoutMs: 10_000 });
  refused = await refusedSetStatus(started.value.clientAddresses[0]!, OVERSIZED_KEY);
}, BUILD_TIMEOUT_MS + 60_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await db?.destroy();
});

it('the trailer probe sees the error details a node sends', async () => {
  const node = await startFailingNode({ code: status.UNAVAILABLE, message: 'm', reason: 'R', metadata: {} });
  try {
    const seen = await refusedSetStatus(node.address, 'k');
    expect(seen.code).toBe(status.UNAVAILABLE);
    expect(seen.details?.includes('type.googleapis.com/google.rpc.ErrorInfo')).toBe(true);
  } finally {
    await node.stop();
  }
});

describe.each(QUICKSTARTS)('the $name quickstart', (q) => {
  let lines: string[];
  let key: string;
  let value: string;
  let before: number;

  beforeAll(async () => {
    key = `quickstart:${q.name}:${process.pid}`;
    value = `hello from ${q.name} ${Date.now()}`;
    // A version the program's write must supersede: it reached this cluster.
    before = await client.set(key, 'written by the test');
    // First address: a node that is down (nothing listens there).
    const down = cluster!.nodes[0]!.host.replace(/\.\d+$/, '.250');
    const addrs = [`${down}:50051`, ...cluster!.clientAddresses].join(',');
    const [cmd, args] = q.command(addrs, key, value);
    const r = await run(cmd, args, { timeoutMs: RUN_TIMEOUT_MS });
    if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    lines = r.stdout.trim().split('\n');
  }, RUN_TIMEOUT_MS + 15_000);

  it('sets the key over the one the test wrote and reads its value back', () => {
    const set = /^set (\S+) version=(\d+)$/.exec(lines[0] ?? '');
    expect(set?.[1]).toBe(key);
    const version = Number(set?.[2]);
    expect(version).toBeGreaterThan(before);
    expect(lines[1]).toBe(`get ${key} found=true value=${JSON.stringify(value)} version=${version}`);
  });

  it('deletes it: the program and the TypeScript client no longer find it', async () => {
    const set = Number(/version=(\d+)$/.exec(lines[0] ?? '')?.[1]);
    const del = /^delete (\S+) version=(\d+)$/.exec(lines[2] ?? '');
    expect(del?.[1]).toBe(key);
    expect(Number(del?.[2])).toBeGreaterThan(set);
    expect(lines[3]).toBe(`get ${key} found=false value="" version=0`);
    expect((await client.get(key)).found).toBe(false);
  });

  it('prints the refused write by its code, and by its reason when the node sends details', () => {
    const line = lines[4] ?? '';
    expect(line).toMatch(new RegExp(`^error set: code=${q.codeName(refused.code)} message=".*key.*"`));
    expect(line).toMatch(/ retry-write=false$/);
    if (refused.details === undefined) expect(line).not.toContain('reason=');
    else expect(line).toContain(' reason=LIMIT_EXCEEDED domain=kvring.dev');
  });

  // A healthy cluster never fails a write for these: a stand-in node does.
  it.each([
    { reason: 'QUORUM_UNAVAILABLE', code: status.UNAVAILABLE, retryWrite: true },
    { reason: 'WRITE_IN_DOUBT', code: status.UNKNOWN, retryWrite: false },
  ])('prints a failed write by its reason $reason, and whether to retry it', async (f) => {
    const node = await startFailingNode({
      code: f.code,
      message: `stand-in failure ${f.reason}`,
      reason: f.reason,
      metadata: { replicas: '1', needed: '2' },
    });
    try {
      const [cmd, args] = q.command(node.address, 'some-key', 'some-value');
      const r = await run(cmd, args, { timeoutMs: RUN_TIMEOUT_MS });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        `set: code=${q.codeName(f.code)} message="stand-in failure ${f.reason}" ` +
          `reason=${f.reason} domain=kvring.dev needed=2 replicas=1 retry-write=${f.retryWrite}\n`,
      );
    } finally {
      await node.stop();
    }
  });
});
