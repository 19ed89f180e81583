// Drain before a scale-down: a leaving node hands every key it holds to the
// members that own the key once it is gone, so the remaining replicas stay
// warm (nothing is lost either way: PostgreSQL has every key).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '@kvring/client/proto';
import { AdminClient, KvClient } from '@kvring/client';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import { Ring } from '@kvring/client/ring';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({ nodes: 4 });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

function digest(host: string): Promise<Map<string, number>> {
  const c = new PeerServiceClient(`${host}:50052`, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    c.digest({ keys: [] }, (err: Error | null, res: DigestResponse) => {
      c.close();
      if (err) reject(err);
      else resolve(new Map(res.entries.map((e) => [e.key, e.version])));
    }),
  );
}

it('streams every key of a leaving node to the owners that remain', async () => {
  const client = new KvClient(env.cluster.clientAddresses);
  for (let i = 0; i < 400; i++) await client.set(`drain:${i}`, `v${i}`);
  const leaving = env.cluster.nodes[3]!;
  const held = await digest(leaving.host);
  expect(held.size).toBeGreaterThan(100);

  // AdminService is on the peer port (plaintext here: no TLS in this cluster).
  const admin = new AdminClient();
  const r = await admin.drain(`${leaving.host}:50052`, [leaving.name]);
  admin.close();
  expect(r.keysFailed).toBe(0);
  expect(r.keysStreamed).toBe(held.size);

  const remaining = env.cluster.nodes.slice(0, 3);
  const after = new Map(
    await Promise.all(remaining.map(async (n) => [n.name, await digest(n.host)] as const)),
  );
  const next = new Ring(remaining.map((n) => n.name));
  let missing = 0;
  for (const [key, version] of held)
    for (const owner of next.preferenceList(key, 3))
      if ((after.get(owner)!.get(key) ?? 0) < version) missing++;
  expect(missing).toBe(0);
  console.log(`drain: ${r.keysStreamed} keys handed over by ${leaving.name}`);
  client.close();
}, 60_000);

it('refuses Drain on the client port, saying where it is served', async () => {
  const c = new AdminServiceClient(env.cluster.nodes[0]!.clientAddress, credentials.createInsecure());
  const err = await new Promise<ServiceError | null>((resolve) =>
    c.drain({ leaving: [] }, (e: ServiceError | null) => {
      c.close();
      resolve(e);
    }),
  );
  expect(err).toMatchObject({ code: status.UNIMPLEMENTED });
  expect(err?.details).toMatch(/not served on the client port.*peer port/);
}, 30_000);
