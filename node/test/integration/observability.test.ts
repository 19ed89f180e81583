// What an operator and their tools see of a running node: Prometheus metrics
// (checked by promtool itself), the HTTP health endpoints, gRPC health on both
// ports, server reflection on the client port, and the peer service kept off
// the client port. Three real nodes, a real PostgreSQL and the demo legacy API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  status,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { KvClient, KvClientError, Source } from '@kvring/client';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import type { LocalNode } from '@kvring/devcluster/local-cluster';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;
let node: LocalNode;
let client: KvClient;

beforeAll(async () => {
  env = await startTestEnv({
    // Anti-entropy would copy a row written behind the nodes' back into memory;
    // the test needs it to stay PostgreSQL-only until it is read.
    env: { KVRING_ANTI_ENTROPY_INTERVAL: '1h', KVRING_FAILURE_TIMEOUT: '1s' },
  });
  node = env.cluster.nodes[0]!;
  // One coordinator for all the traffic, so its metrics count all of it.
  client = new KvClient(node.clientAddress, { timeoutMs: 15_000 });
}, 120_000);

afterAll(async () => {
  client?.close();
  await env?.stop();
}, 60_000);

// ---------------------------------------------------------------------------
// Prometheus text format, read just far enough to look samples up.

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Scrape {
  readonly text: string;
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

function parseMetrics(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return { text, types, samples };
}

async function scrape(n: LocalNode = node): Promise<Scrape> {
  const res = await fetch(`${n.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseMetrics(await res.text());
}

/** Samples of `name` whose labels include `labels`. */
function find(s: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
}

/** The one sample of `name` with `labels` (fails when there is none or several). */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = find(s, name, labels);
  if (found.length !== 1)
    throw new Error(
      `expected one sample of ${name}${JSON.stringify(labels)}, found ${found.length}:\n` +
        s.text
          .split('\n')
          .filter((l) => l.startsWith(name))
          .join('\n'),
    );
  return found[0]!.value;
}

/** Polls `check` on fresh scrapes until it passes; bounded. */
async function eventually(
  check: (s: Scrape) => void,
  timeoutMs: number,
  n: LocalNode = node,
): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(n);
    try {
      check(s);
      return s;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------------------

describe('/metrics', () => {
  it('counts requests by method and code, latency, reads by source, cache, PostgreSQL batches and members', async () => {
    for (let i = 0; i < 30; i++) await client.set(`obs:k${i}`, `value-${i}`);
    for (let i = 0; i < 30; i++) expect((await client.get(`obs:k${i}`)).source).toBe(Source.SOURCE_MEMORY);
    // A row only PostgreSQL holds (written behind the nodes' back).
    await env.sql('insert into kv_store (key, value) values ($1, $2)', ['obs:pg-only', Buffer.from('pg')]);
    expect((await client.get('obs:pg-only')).source).toBe(Source.SOURCE_POSTGRES);
    // A key only the legacy API holds, and one nobody holds.
    expect((await client.get('user:5')).source).toBe(Source.SOURCE_LEGACY);
    expect((await client.get('obs:nowhere')).found).toBe(false);
    // One refused request.
    const bad = await client.set('', 'x').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((bad as KvClientError).code).toBe(status.INVALID_ARGUMENT);

    const s = await eventually((x) => expect(value(x, 'kvring_cache_entries')).toBeGreaterThan(0), 5000);
    const member = node.name;

    expect(s.types.get('kvring_requests_total')).toBe('counter');
    expect(value(s, 'kvring_requests_total', { method: 'Set', code: 'OK' })).toBe(30);
    expect(value(s, 'kvring_requests_total', { method: 'Get', code: 'OK' })).toBe(33);
    expect(value(s, 'kvring_requests_total', { method: 'Set', code: 'INVALID_ARGUMENT' })).toBe(1);
    // Every sample carries the member name.
    expect(find(s, 'kvring_requests_total').every((x) => x.labels.member === member)).toBe(true);

    expect(s.types.get('kvring_request_duration_seconds')).toBe('histogram');
    const getCount = value(s, 'kvring_request_duration_seconds_count', { method: 'Get' });
    expect(getCount).toBe(33);
    expect(value(s, 'kvring_request_duration_seconds_bucket', { method: 'Get', le: '+Inf' })).toBe(getCount);
    expect(value(s, 'kvring_request_duration_seconds_sum', { method: 'Get' })).toBeGreaterThan(0);
    // Buckets are cumulative.
    const buckets = find(s, 'kvring_request_duration_seconds_bucket', { method: 'Set' }).map((b) => b.value);
    expect(buckets.length).toBeGreaterThan(5);
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);

    expect(s.types.get('kvring_reads_total')).toBe('counter');
    expect(value(s, 'kvring_reads_total', { source: 'memory' })).toBeGreaterThanOrEqual(30);
    expect(value(s, 'kvring_reads_total', { source: 'postgres' })).toBe(1);
    expect(value(s, 'kvring_reads_total', { source: 'legacy' })).toBe(1);
    expect(value(s, 'kvring_reads_total', { source: 'miss' })).toBe(1);

    expect(s.types.get('kvring_cache_entries')).toBe('gauge');
    expect(value(s, 'kvring_cache_entries')).toBeGreaterThan(0);
    expect(value(s, 'kvring_cache_bytes')).toBeGreaterThan(0);
    expect(value(s, 'kvring_cache_max_bytes')).toBe(256 * 1024 * 1024);

    expect(s.types.get('kvring_postgres_batch_size')).toBe('histogram');
    // 30 sets and the legacy hydration, however they were grouped.
    expect(value(s, 'kvring_postgres_batch_size_sum')).toBeGreaterThanOrEqual(30);
    expect(value(s, 'kvring_postgres_batch_size_count')).toBeGreaterThan(0);
    expect(value(s, 'kvring_postgres_up')).toBe(1);
    // The legacy call itself is made by the key's primary replica (which coalesces
    // misses), wherever the request came in: one call in the whole cluster.
    const everywhere = await Promise.all(env.cluster.nodes.map((n) => scrape(n)));
    const legacyFound = everywhere.flatMap((x) =>
      find(x, 'kvring_legacy_requests_total', { result: 'found' }),
    );
    expect(legacyFound.reduce((sum, x) => sum + x.value, 0)).toBe(1);

    expect(s.types.get('kvring_hints_pending')).toBe('gauge');
    expect(s.types.get('kvring_members')).toBe('gauge');
    expect(value(s, 'kvring_members', { state: 'down' })).toBe(0);
    expect(value(s, 'kvring_members', { state: 'up' })).toBe(3);
    for (const n of env.cluster.nodes) expect(value(s, 'kvring_member_up', { member: n.name })).toBe(1);

    expect(s.types.get('kvring_process_cpu_seconds_total')).toBe('counter');
  });

  it('shows a paused member down with hints pending for it, then up with the hints replayed', async () => {
    const paused = env.cluster.nodes[2]!;
    paused.signal('SIGSTOP');
    let s: Scrape;
    try {
      s = await eventually((x) => expect(value(x, 'kvring_members', { state: 'down' })).toBe(1), 15_000);
      expect(value(s, 'kvring_member_up', { member: paused.name })).toBe(0);
      expect(value(s, 'kvring_members', { state: 'up' })).toBe(2);
      // With N = 3 on 3 nodes every key has a replica on the paused node: each write leaves a hint.
      for (let i = 0; i < 20; i++) await client.set(`obs:hinted:${i}`, `h${i}`);
      s = await scrape();
      expect(value(s, 'kvring_hints_pending', { member: paused.name })).toBe(20);
      expect(value(s, 'kvring_hints_pending_bytes', { member: paused.name })).toBeGreaterThan(20 * 8);
      expect(value(s, 'kvring_hints_total', { outcome: 'stored' })).toBeGreaterThanOrEqual(20);
    } finally {
      paused.signal('SIGCONT');
    }
    // Taken hints leave `pending` before their replay is acknowledged: wait for both.
    s = await eventually((x) => {
      expect(value(x, 'kvring_members', { state: 'down' })).toBe(0);
      expect(value(x, 'kvring_hints_pending', { member: paused.name })).toBe(0);
      expect(find(x, 'kvring_hints_total', { outcome: 'replayed' })[0]?.value).toBe(20);
    }, 20_000);
    expect(find(s, 'kvring_hints_total', { outcome: 'dropped' })).toEqual([]);
    // The replayed writes are on the member that missed them.
    const peer = new PeerServiceClient(`${paused.host}:50052`, credentials.createInsecure());
    try {
      const digest = await new Promise<DigestResponse>((resolve, reject) =>
        peer.digest({ keys: ['obs:hinted:0', 'obs:hinted:19'] }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(digest.entries.map((e) => e.key).sort()).toEqual(['obs:hinted:0', 'obs:hinted:19']);
    } finally {
      peer.close();
    }
  }, 60_000);

  it('passes `promtool check metrics` on every node', async () => {
    const which = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (which.error !== undefined)
      throw new Error(
        'promtool is not installed: it comes with Debian\'s "prometheus" package ' +
          '(run `bash scripts/ensure-system-deps.sh` as root, or `apt-get install prometheus`)',
      );
    for (const n of env.cluster.nodes) {
      const res = await fetch(`${n.httpUrl}/metrics`);
      const text = await res.text();
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const problems = `${lint.stdout}${lint.stderr}`.trim();
      if (problems !== '') console.log(`promtool check metrics on ${n.name}:\n${problems}`);
      expect({ node: n.name, status: lint.status, problems }).toEqual({
        node: n.name,
        status: 0,
        problems: '',
      });
    }
  });
});

describe('health endpoints', () => {
  it('answers /healthz and /readyz with 200 on every ready node', async () => {
    for (const n of env.cluster.nodes) {
      const live = await fetch(`${n.httpUrl}/healthz`);
      expect(live.status).toBe(200);
      const ready = await fetch(`${n.httpUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toMatch(/ready/);
    }
  });

  it('answers 404 naming the endpoints for an unknown path', async () => {
    const res = await fetch(`${node.httpUrl}/nope`);
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/\/metrics/);
  });

  it('reports SERVING through grpc.health.v1.Health on the client and the peer port', async () => {
    // grpc-health-check's definition is a proto-loader one; grpc-js takes it as is.
    const Health = makeGenericClientConstructor(healthService, 'Health');
    for (const address of [`${node.host}:50051`, `${node.host}:50052`]) {
      const c = new Health(address, credentials.createInsecure());
      try {
        const res = await unary<{ status: string }>(c, 'Check', { service: '' });
        expect({ address, status: res.status }).toEqual({ address, status: 'SERVING' });
      } finally {
        c.close();
      }
    }
  });
});

// ---------------------------------------------------------------------------
// Server reflection, through the reflection protocol's own .proto files.

const require = createRequire(import.meta.url);
const REFLECTION_PROTO_ROOT = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionClient = Client & {
  ServerReflectionInfo(): import('@grpc/grpc-js').ClientDuplexStream<object, ReflectionResponse>;
};

function reflectionClient(address: string, version: 'v1' | 'v1alpha'): ReflectionClient {
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [REFLECTION_PROTO_ROOT],
    keepCase: true,
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  // loadPackageDefinition returns an untyped namespace tree; walk it by name.
  const pkg = loadPackageDefinition(def) as unknown as Record<
    string,
    Record<string, Record<string, Record<string, new (a: string, c: unknown) => ReflectionClient>>>
  >;
  const Ctor = pkg.grpc!.reflection![version]!.ServerReflection!;
  return new Ctor(address, credentials.createInsecure());
}

/** One request on a reflection stream, its one answer. */
function reflect(c: ReflectionClient, request: object): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const call = c.ServerReflectionInfo();
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error('no reflection answer within 5 s'));
    }, 5000);
    call.on('data', (res: ReflectionResponse) => {
      clearTimeout(timer);
      call.end();
      resolve(res);
    });
    call.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    call.write(request);
  });
}

function unary<Res>(c: Client, method: string, req: object): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (
      c as unknown as Record<string, (r: object, cb: (e: ServiceError | null, r: Res) => void) => void>
    )[method]!;
    fn.call(c, req, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

describe('server reflection and the port split', () => {
  for (const version of ['v1', 'v1alpha'] as const)
    it(`lists the client services and not the peer service (reflection ${version})`, async () => {
      const c = reflectionClient(node.clientAddress, version);
      try {
        const res = await reflect(c, { list_services: '' });
        const names = (res.list_services_response?.service ?? []).map((s) => s.name);
        expect(names).toEqual(
          expect.arrayContaining(['kvring.v1.KVService', 'kvring.v1.AdminService', 'cache.CacheService']),
        );
        expect(names).not.toContain('kvring.v1.PeerService');
      } finally {
        c.close();
      }
    });

  it('describes kvring.v1.KVService (what `grpcurl describe` needs)', async () => {
    const c = reflectionClient(node.clientAddress, 'v1');
    try {
      const res = await reflect(c, { file_containing_symbol: 'kvring.v1.KVService' });
      expect(res.error_response).toBeUndefined();
      const files = res.file_descriptor_response?.file_descriptor_proto ?? [];
      expect(files.length).toBeGreaterThan(0);
      expect(Buffer.concat(files).toString('latin1')).toContain('KVService');
    } finally {
      c.close();
    }
  });

  it('refuses peer methods on the client port with UNIMPLEMENTED, and serves them on the peer port', async () => {
    const onClientPort = new PeerServiceClient(node.clientAddress, credentials.createInsecure());
    const onPeerPort = new PeerServiceClient(`${node.host}:50052`, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) =>
        onClientPort.digest({ keys: ['obs:k1'] }, (e) => resolve(e)),
      );
      expect(err?.code).toBe(status.UNIMPLEMENTED);
      // The replication stream is refused the same way.
      const stream = onClientPort.exchange();
      const streamErr = await new Promise<ServiceError>((resolve) => {
        stream.on('error', resolve);
        stream.on('data', () => undefined);
      });
      expect(streamErr.code).toBe(status.UNIMPLEMENTED);
      // The same call on the peer port works: the refusal is the port, not the request.
      const digest = await new Promise<DigestResponse>((resolve, reject) =>
        onPeerPort.digest({ keys: ['obs:k1'] }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(digest.member).toBe(node.name);
    } finally {
      onClientPort.close();
      onPeerPort.close();
    }
  });
});

describe('readiness follows PostgreSQL', () => {
  it('answers /readyz 503 naming PostgreSQL while it is down, and 200 again once it is back', async () => {
    const readyz = async (): Promise<{ status: number; body: string }> => {
      const res = await fetch(`${node.httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: await res.text() };
    };
    const until = async (want: number, timeoutMs: number): Promise<{ status: number; body: string }> => {
      const deadline = Date.now() + timeoutMs;
      let last = await readyz();
      while (last.status !== want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        last = await readyz();
      }
      return last;
    };
    await env.pg.stop();
    let down: { status: number; body: string };
    try {
      down = await until(503, 30_000);
      // Liveness is not readiness: the process still answers.
      expect((await fetch(`${node.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await env.pg.start();
    }
    expect(down).toEqual({ status: 503, body: 'not ready: PostgreSQL unreachable\n' });
    expect(await until(200, 30_000)).toEqual({ status: 200, body: 'ready\n' });
  }, 90_000);
});
