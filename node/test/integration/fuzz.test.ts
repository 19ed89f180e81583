// Hostile input on 3 real nodes: random and mutated requests, malformed
// protobuf frames, oversized metadata, expired deadlines, many concurrent
// calls and stalled connections. Bounded in count and time. Every node must
// keep answering health checks throughout, none may crash, and data written
// before must be unchanged afterwards.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { KvClient } from '@kvring/client';
import { seededRandom } from '@kvring/test-support/prng';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv();
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

const METHODS = [
  '/kvring.v1.KVService/Get',
  '/kvring.v1.KVService/Set',
  '/kvring.v1.KVService/Delete',
  '/kvring.v1.KVService/MGet',
  '/kvring.v1.KVService/MSet',
  '/kvring.v1.AdminService/Drain',
  '/cache.CacheService/Set',
  '/cache.CacheService/Get',
  '/kvring.v1.PeerService/Digest',
];

function rawCall(c: Client, method: string, body: Buffer, md = new Metadata(), deadline = Date.now() + 3000) {
  return new Promise<ServiceError | null>((resolve) => {
    c.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      { deadline },
      (err) => resolve(err),
    );
  });
}

// A node that stops answering fails this; a slow answer on a saturated
// machine does not (2 s failed twice at load average 30).
async function healthy(host: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${host}:8080/healthz`, { signal: AbortSignal.timeout(10_000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

it('survives malformed and hostile requests and keeps its data', async () => {
  const rand = seededRandom(20261125);
  const kv = new KvClient(env.cluster.clientAddresses);
  const before = new Map<string, string>();
  for (let i = 0; i < 50; i++) {
    before.set(`fz:${i}`, `value-${i}`);
    await kv.set(`fz:${i}`, `value-${i}`);
  }
  const pids = env.cluster.nodes.map((n) => n.pid);

  let healthFailures = 0;
  let healthChecks = 0;
  let probing = true;
  const prober = (async () => {
    while (probing) {
      for (const n of env.cluster.nodes) {
        healthChecks++;
        if (!(await healthy(n.host))) healthFailures++;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const clients = env.cluster.nodes.map((n) => new Client(n.clientAddress, credentials.createInsecure()));
  const codes = new Map<string, number>();
  const count = (err: ServiceError | null): void => {
    const k = err ? String(err.code) : 'OK';
    codes.set(k, (codes.get(k) ?? 0) + 1);
  };

  // 1. Random bytes and mutated valid frames to every method (bounded).
  const valid = Buffer.from([0x0a, 0x04, 0x66, 0x7a, 0x3a, 0x31, 0x12, 0x03, 0x61, 0x62, 0x63]); // key "fz:1", value "abc"
  for (let i = 0; i < 1500; i++) {
    const c = clients[i % clients.length]!;
    const method = METHODS[Math.floor(rand() * METHODS.length)]!;
    let body: Buffer;
    if (rand() < 0.5) {
      body = Buffer.alloc(Math.floor(rand() * 64));
      for (let j = 0; j < body.length; j++) body[j] = Math.floor(rand() * 256);
    } else {
      body = Buffer.from(valid);
      const flips = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < flips; j++) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
    }
    // Never touch the keys whose values are checked at the end.
    if (body.includes(Buffer.from('fz:'))) continue;
    count(await rawCall(c, method, body));
  }

  // 2. A length prefix claiming far more than is sent, and an oversized field.
  const lying = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x61]);
  count(await rawCall(clients[0]!, '/kvring.v1.KVService/Get', lying));
  count(
    await rawCall(
      clients[1]!,
      '/kvring.v1.KVService/Set',
      Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x01]), Buffer.alloc(16384, 0x41)]),
    ),
  );

  // 3. Oversized metadata.
  const md = new Metadata();
  md.set('x-junk', 'j'.repeat(64 * 1024));
  count(await rawCall(clients[2]!, '/kvring.v1.KVService/Get', valid, md));

  // 4. Deadline already passed.
  for (let i = 0; i < 50; i++)
    count(await rawCall(clients[i % 3]!, '/kvring.v1.KVService/Get', valid, new Metadata(), Date.now() - 1));

  // 5. Many concurrent calls at once.
  const burst = await Promise.all(
    Array.from({ length: 600 }, (_, i) =>
      rawCall(
        clients[i % 3]!,
        '/kvring.v1.KVService/Get',
        Buffer.from([0x0a, 0x03, 0x62, 0x3a, 0x30 + (i % 10)]),
      ),
    ),
  );
  burst.forEach(count);

  // 6. Slow clients: connections that send half an HTTP/2 preface and stall.
  const stalled = env.cluster.nodes.flatMap((n) =>
    Array.from({ length: 20 }, () => {
      const s = connect(50051, n.host);
      s.on('error', () => undefined);
      s.write('PRI * HTTP/2.0\r\n');
      return s;
    }),
  );
  await new Promise((r) => setTimeout(r, 1500));
  for (const s of stalled) s.destroy();

  probing = false;
  await prober;
  for (const c of clients) c.close();

  // Same processes (no crash, no restart), all serving, data intact.
  expect(env.cluster.nodes.map((n) => n.pid)).toEqual(pids);
  expect(env.cluster.nodes.every((n) => n.running)).toBe(true);
  for (const n of env.cluster.nodes) expect(await healthy(n.host)).toBe(true);
  for (const [key, value] of before) expect((await kv.get(key)).value.toString()).toBe(value);
  const rows = await env.sql<{ key: string; value: Buffer }>(
    "select key, value from kv_store where key like 'fz:%'",
  );
  for (const r of rows) expect(r.value.toString()).toBe(before.get(r.key));
  expect(rows).toHaveLength(before.size);
  kv.close();
  console.log(
    `fuzz: ${[...codes.values()].reduce((a, b) => a + b, 0)} hostile calls, status codes ${JSON.stringify(Object.fromEntries(codes))}; ` +
      `health checks ${healthChecks}, failed ${healthFailures}; 60 stalled connections`,
  );
  expect(healthFailures).toBe(0);
}, 240_000);
