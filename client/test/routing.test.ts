// Discovery, ring-aware routing and failover against stub nodes in this
// process (support/): each stub listens on its own 127.x.y.z address with
// one shared port, like pods behind a headless Service; a fake resolver
// answers for the Service name (no DNS query leaves the process) and an
// injected clock drives the down-marking backoff.
import { afterEach, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { KvClient, KvError } from '../src/index.js';
import { FakeDns, N, startStubs, view } from './support/stub-cluster.js';
import type { StubNode } from './support/stub-node.js';

const SERVICE = 'kvring-peers.shop.svc';
let client: KvClient | undefined;
let stubs: StubNode[] = [];
let clock = 0;
const now = (): number => clock;

afterEach(async () => {
  client?.close();
  client = undefined;
  await Promise.all(stubs.map((s) => s.stop()));
  stubs = [];
});

async function cluster(count: number): Promise<{ dns: FakeDns; port: number }> {
  const started = await startStubs(count);
  stubs = started.stubs;
  const dns = new FakeDns();
  return { dns, port: started.port };
}

function serve(info: ReturnType<typeof view>['info'], on: readonly StubNode[] = stubs): void {
  for (const s of on) s.info = info;
}

/** Which stub saw `key` in a call. */
function servedBy(key: string): StubNode[] {
  return stubs.filter((s) => s.keys.includes(key));
}

describe('ring-aware routing', () => {
  it('sends each key to one of its replicas and spreads reads over them', async () => {
    const { dns, port } = await cluster(5);
    dns.point(SERVICE, stubs);
    const members = stubs.map((s, i) => [`kv-${i}`, s] as const);
    const { info, ring } = view(members);
    serve(info);
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now });
    await client.refreshRing();
    expect(client.ringHash).toBe(ring.ringHash);

    const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
    for (const k of keys) {
      await client.set(k, 'v');
      await client.get(k);
    }
    for (const k of keys) {
      const replicas = ring.preferenceList(k, N);
      const at = servedBy(k).map((s) => members.find(([, m]) => m === s)![0]);
      expect({ k, outside: at.filter((m) => !replicas.includes(m)) }).toEqual({ k, outside: [] });
    }
    // Three reads of one key in a row land on more than one replica.
    for (const s of stubs) s.keys.length = 0;
    for (let i = 0; i < 3; i++) await client.get('hot');
    expect(servedBy('hot').length).toBeGreaterThan(1);
    expect(new Set(dns.asked)).toEqual(new Set([SERVICE]));
  });

  it('follows the ring when ClusterInfo reports another ring hash', async () => {
    const { dns, port } = await cluster(4);
    dns.point(SERVICE, stubs);
    const three = view(stubs.slice(0, 3).map((s, i) => [`kv-${i}`, s] as const));
    serve(three.info);
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now });
    await client.refreshRing();
    for (let i = 0; i < 20; i++) await client.set(`a:${i}`, 'v');
    expect(stubs[3]!.seen('set')).toBe(0);

    const four = view(stubs.map((s, i) => [`kv-${i}`, s] as const));
    serve(four.info);
    await client.refreshRing();
    expect(client.ringHash).toBe(four.ring.ringHash);
    const keys = Array.from({ length: 60 }, (_, i) => `b:${i}`);
    for (const k of keys) await client.set(k, 'v');
    for (const k of keys) {
      const at = servedBy(k).map((s) => `kv-${stubs.indexOf(s)}`);
      expect(four.ring.preferenceList(k, N)).toEqual(expect.arrayContaining(at));
    }
    expect(stubs[3]!.seen('set')).toBeGreaterThan(0);
  });

  it('checks the ring again on its own after a node refuses for lack of quorum', async () => {
    const { dns, port } = await cluster(3);
    dns.point(SERVICE, stubs);
    serve(view(stubs.slice(0, 2).map((s, i) => [`kv-${i}`, s] as const)).info);
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now });
    await client.refreshRing();
    const three = view(stubs.map((s, i) => [`kv-${i}`, s] as const));
    serve(three.info);
    const asked = stubs.reduce((n, s) => n + s.seen('clusterInfo'), 0);
    clock += 5_000;
    stubs[0]!.answer = { code: status.UNAVAILABLE, reason: 'QUORUM_UNAVAILABLE' };
    stubs[1]!.answer = stubs[0]!.answer;
    // Reads on keys kv-0 or kv-1 serve fail over until one reaches kv-2; each refusal may trigger a check.
    for (let i = 0; i < 50 && client.ringHash !== three.ring.ringHash; i++)
      await client.get(`k:${i}`).catch(() => undefined);
    expect(stubs.reduce((n, s) => n + s.seen('clusterInfo'), 0)).toBeGreaterThan(asked);
    expect(client.ringHash).toBe(three.ring.ringHash);
  });

  it('talks to any node while the ring is unknown', async () => {
    const { dns, port } = await cluster(2);
    dns.point(SERVICE, stubs);
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now });
    for (let i = 0; i < 4; i++) await client.get(`k:${i}`);
    expect(client.ringHash).toBeUndefined();
    expect(stubs.map((s) => s.seen('get'))).toEqual([2, 2]);
  });
});

describe('pods come and go', () => {
  it('moves traffic to a new pod address: no read fails, and the write in flight on the killed pod is not resent', async () => {
    const { dns, port } = await cluster(4);
    const [s0, s1, s2, s3] = stubs as [StubNode, StubNode, StubNode, StubNode];
    dns.point(SERVICE, [s0, s1, s2]);
    // kv-0 and kv-2 seen down: every write goes to kv-1 first.
    serve(
      view(
        [
          ['kv-0', s0],
          ['kv-1', s1],
          ['kv-2', s2],
        ],
        ['kv-0', 'kv-2'],
      ).info,
    );
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now, timeoutMs: 5_000 });
    await client.refreshRing();

    s1.holdWrites = true;
    const write = client.set('in-flight', 'once').then(
      () => undefined,
      (e: unknown) => e,
    );
    await s1.heldWrite;
    // kv-1's pod is deleted; its replacement comes up at another address.
    dns.point(SERVICE, [s0, s2, s3]);
    serve(
      view([
        ['kv-0', s0],
        ['kv-1', s3],
        ['kv-2', s2],
      ]).info,
      [s0, s2, s3],
    );
    clock += 5_000;
    s1.kill();
    const err = await write;
    expect(err).toBeInstanceOf(KvError);
    expect(err).toMatchObject({ notSent: false });
    expect([s0, s2, s3].map((s) => s.seen('set'))).toEqual([0, 0, 0]);

    // Reads never fail; the client finds the new address on its own.
    let failed = 0;
    for (let i = 0; i < 100 && s3.seen('get') === 0; i++) await client.get(`r:${i}`).catch(() => failed++);
    expect(failed).toBe(0);
    expect(s3.seen('get')).toBeGreaterThan(0);
    expect(dns.asked.length).toBeGreaterThan(1);
  });

  it('fails typed and not sent while the name resolves to nothing, then recovers', async () => {
    const { dns, port } = await cluster(1);
    client = new KvClient(`${SERVICE}:${port}`, { resolver: dns, now });
    const err = await client.get('k').catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'UNAVAILABLE', notSent: true });
    expect((err as KvError).details).toMatch(/ENOTFOUND/);
    dns.point(SERVICE, stubs);
    clock += 5_000;
    await client.refresh();
    expect((await client.get('k')).version).toBe(1);
  });
});

describe('down marks', () => {
  it('avoid a failing address for a backoff that doubles, then try it again', async () => {
    await cluster(2);
    const [bad, good] = stubs as [StubNode, StubNode];
    bad.answer = { code: status.UNAVAILABLE };
    client = new KvClient([bad.address, good.address], { now, ringAware: false, downBackoffMs: 1000 });
    await client.get('k'); // bad (twice: the service config), then good
    expect(bad.seen('get')).toBe(2);
    for (let i = 0; i < 4; i++) await client.get('k');
    expect(bad.seen('get')).toBe(2);
    clock += 1001;
    for (let i = 0; i < 2; i++) await client.get('k');
    expect(bad.seen('get')).toBe(4); // tried again once, failed: now 2 s
    clock += 1001;
    for (let i = 0; i < 4; i++) await client.get('k');
    expect(bad.seen('get')).toBe(4);
    bad.answer = undefined;
    clock += 1001;
    for (let i = 0; i < 2; i++) await client.get('k');
    expect(bad.seen('get')).toBe(5);
  });
});
