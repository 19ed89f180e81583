// Membership from DNS, as in Kubernetes: three real node processes learn the
// ring from SRV records of a headless Service served by a real DNS server on
// 127.0.0.1 (KVRING_DISCOVERY_SERVICE + KVRING_DNS_SERVER instead of
// KVRING_PEERS) and connect to each other where DNS says each pod is; a
// fourth pod appears in DNS and every ring grows to it, with the data written
// before still readable through every node; a pod restarted at another
// address is reached there at once, while DNS still gives the old one (a
// CoreDNS cache), because it announces its address when it dials its peers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { KvClient, MemberState, type ClusterInfoResponse } from '@kvring/client';
import {
  LocalNode,
  randomSubnet,
  startLocalCluster,
  type LocalCluster,
} from '@kvring/devcluster/local-cluster';
import { TestDnsServer } from '../support/dns-server.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const SERVICE = 'demo-peers.ns.svc.cluster.local';
const SRV_NAME = `_peer._tcp.${SERVICE}`;
const PEER_PORT = 50052;

let db: TestPostgres;
let dns: TestDnsServer;
let cluster: LocalCluster | undefined;
let extra: LocalNode | undefined;
let restarted: LocalNode | undefined;
let pool: pg.Pool | undefined;
const subnet = randomSubnet();
const hostOf = (i: number): string => `${subnet}.${i + 1}`;
const fqdn = (i: number): string => `demo-${i}.${SERVICE}`;
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `demo-${i}`);

/** Publishes pods demo-0..demo-(n-1): SRV targets and the A records they resolve to. */
function publish(n: number): void {
  dns.setSrv(
    SRV_NAME,
    Array.from({ length: n }, (_, i) => ({ target: fqdn(i), port: PEER_PORT })),
  );
  for (let i = 0; i < n; i++) dns.setA(fqdn(i), [hostOf(i)]);
}

/** Membership through the test DNS server instead of a static list. */
function discoveryEnv(): Record<string, string> {
  return {
    // startLocalCluster writes a static KVRING_PEERS list; empty means: use DNS.
    KVRING_PEERS: '',
    KVRING_DISCOVERY_SERVICE: SERVICE,
    KVRING_DNS_SERVER: dns.address,
    KVRING_DISCOVERY_INTERVAL: '500ms',
    KVRING_LOG_LEVEL: 'info',
  };
}

beforeAll(async () => {
  db = await startPostgres();
  dns = await TestDnsServer.start();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // An idle connection PostgreSQL closes must not fail the suite.
  pool.on('error', () => undefined);
  publish(3);
  // Waits until every node is ready and sees every other one up.
  cluster = await startLocalCluster({
    nodes: 3,
    subnet,
    namePrefix: 'demo',
    postgresUrl: db.url,
    env: discoveryEnv(),
  });
}, 120_000);

afterAll(async () => {
  await restarted?.stop();
  restarted?.closeLog();
  await extra?.stop();
  extra?.closeLog();
  await cluster?.stop();
  await pool?.end();
  await dns?.stop();
  await db?.destroy();
}, 60_000);

async function infos(addresses: readonly string[]): Promise<ClusterInfoResponse[]> {
  const client = new KvClient([...addresses], { timeoutMs: 5000 });
  try {
    return await Promise.all(addresses.map((a) => client.clusterInfo(a)));
  } finally {
    client.close();
  }
}

/** What each node sees: its ring hash, its members and their states. */
function views(all: readonly ClusterInfoResponse[]): string[] {
  return all.map(
    (i) =>
      `${i.self}: ring ${i.ringHash} members ${i.members
        .map((m) => `${m.name}(${MemberState[m.state]})`)
        .sort()
        .join(' ')}`,
  );
}

/**
 * Polls ClusterInfo on every address until each node's ring has exactly
 * `expected` as members, every member is seen up (or self), and all nodes
 * have the same ring hash. Bounded by `timeoutMs`; the failure says what
 * each node saw last.
 */
async function waitForRing(
  addresses: readonly string[],
  expected: readonly string[],
  timeoutMs: number,
): Promise<ClusterInfoResponse[]> {
  const deadline = Date.now() + timeoutMs;
  const want = [...expected].sort().join(' ');
  let last: string[] = [];
  while (Date.now() < deadline) {
    try {
      const all = await infos(addresses);
      last = views(all);
      const agreed =
        new Set(all.map((i) => i.ringHash)).size === 1 &&
        all.every(
          (i) =>
            i.members
              .map((m) => m.name)
              .sort()
              .join(' ') === want &&
            i.members.every(
              (m) => m.state === MemberState.MEMBER_STATE_SELF || m.state === MemberState.MEMBER_STATE_UP,
            ),
        );
      if (agreed) return all;
    } catch (err) {
      last = [(err as Error).message];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`rings did not agree on ${want} within ${timeoutMs} ms:\n${last.join('\n')}`);
}

/** Pod demo-3 as a node process at `host`. */
function demo3(host: string, log: string): LocalNode {
  const env = {
    KVRING_NODE_NAME: 'demo-3',
    KVRING_HOST: host,
    KVRING_POSTGRES_URL: db.url,
    KVRING_LEGACY_URL: '',
    ...discoveryEnv(),
  };
  return new LocalNode('demo-3', host, env, join(cluster!.logDir, log), false);
}

/** Written in the first test, read back after the scale-up. */
const written = new Map<string, string>();

describe('membership from DNS', () => {
  it('forms one ring of the pods named by the SRV targets, each connected to the others', async () => {
    const all = await waitForRing(cluster!.clientAddresses, names(3), 30_000);
    for (const info of all) {
      expect(info.members).toHaveLength(3);
      // Each node knows itself under the name DNS gives it.
      expect(
        info.members.filter((m) => m.state === MemberState.MEMBER_STATE_SELF).map((m) => m.name),
      ).toEqual([info.self]);
      // Peers are reached at the address DNS gives for their pod.
      for (const m of info.members)
        expect(m.peerAddress).toBe(`${hostOf(Number(m.name.slice(5)))}:${PEER_PORT}`);
      const share = info.members.reduce((s, m) => s + m.ownership, 0);
      expect(share).toBeCloseTo(1, 6);
    }
    expect(all.map((i) => i.self).sort()).toEqual(names(3));

    // Writes need W = 2 replicas: they succeed only because the peers are connected.
    const client = new KvClient(cluster!.clientAddresses, { timeoutMs: 10_000 });
    try {
      for (let i = 0; i < 200; i++) {
        const key = `dns:before:${i}`;
        await client.set(key, `value-${i}`);
        written.set(key, `value-${i}`);
      }
    } finally {
      client.close();
    }
  });

  it('grows every ring to a fourth pod once DNS lists it, keeping the data written before', async () => {
    expect(written.size).toBe(200);
    const before = (await infos(cluster!.clientAddresses))[0]!.ringHash;
    publish(4);
    extra = demo3(hostOf(3), 'demo-3.log');
    await extra.startReady();

    const addresses = [...cluster!.clientAddresses, extra.clientAddress];
    const all = await waitForRing(addresses, names(4), 30_000);
    expect(all.map((i) => i.members.length)).toEqual([4, 4, 4, 4]);
    expect(all[0]!.ringHash).not.toBe(before);
    for (const info of all)
      expect(info.members.find((m) => m.name === 'demo-3')!.ownership).toBeGreaterThan(0.1);

    // Every key written before the scale-up reads back through every node, the new one included.
    for (const address of addresses) {
      const c = new KvClient(address, { timeoutMs: 10_000 });
      try {
        for (const [key, value] of written)
          expect({ address, key, value: (await c.get(key)).value.toString() }).toEqual({
            address,
            key,
            value,
          });
      } finally {
        c.close();
      }
    }
    const rows = await pool!.query<{ n: string }>(
      "select count(*) as n from kv_store where key like 'dns:before:%'",
    );
    expect(Number(rows.rows[0]!.n)).toBe(written.size);
  });

  it('a pod missing from DNS for a few seconds under load causes no ring change and loses no write', async () => {
    const addresses = [...cluster!.clientAddresses, extra!.clientAddress];
    const before = (await waitForRing(addresses, names(4), 30_000))[0]!.ringHash;
    const client = new KvClient(addresses, { timeoutMs: 10_000 });
    const acked = new Map<string, string>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 5_000 && !stop; i++) {
        const key = `dns:flap:${i % 50}`;
        const value = `w${i}`;
        await client.set(key, value).then(
          () => acked.set(key, value),
          () => undefined,
        );
      }
    })();
    const hashes = new Set<string>();
    try {
      // demo-1 is deleted and its replacement has no IP yet: no SRV target, no A record.
      dns.setSrv(
        SRV_NAME,
        [0, 2, 3].map((i) => ({ target: fqdn(i), port: PEER_PORT })),
      );
      dns.remove(fqdn(1));
      // Six discovery intervals (500 ms) pass while it is missing.
      for (let i = 0; i < 15; i++) {
        for (const info of await infos(addresses)) hashes.add(info.ringHash);
        await new Promise((r) => setTimeout(r, 200));
      }
      publish(4);
    } finally {
      stop = true;
      await writer;
      client.close();
    }
    expect([...hashes]).toEqual([before]);
    expect(acked.size).toBeGreaterThan(0);
    const reader = new KvClient(addresses, { timeoutMs: 10_000 });
    try {
      for (const [key, value] of acked)
        expect({ key, value: (await reader.get(key)).value.toString() }).toEqual({ key, value });
    } finally {
      reader.close();
    }
  }, 60_000);

  it('reaches a pod restarted at another address there at once, while DNS still names its old address', async () => {
    const addresses = [...cluster!.clientAddresses, extra!.clientAddress];
    await waitForRing(addresses, names(4), 30_000);
    const before = (await infos(cluster!.clientAddresses))[0]!.ringHash;
    // demo-3 dies and comes back as a new process at another IP. DNS keeps
    // answering its old address (what CoreDNS's cache does for up to 30 s),
    // and here it never catches up: only the announcement can move the peers.
    await extra!.stop();
    restarted = demo3(hostOf(5), 'demo-3-restarted.log');
    await restarted.startReady();
    const now = [...cluster!.clientAddresses, restarted.clientAddress];
    const all = await waitForRing(now, names(4), 15_000);
    for (const info of all) {
      const m = info.members.find((x) => x.name === 'demo-3')!;
      expect({ self: info.self, peer: m.peerAddress }).toEqual({
        self: info.self,
        peer: `${hostOf(5)}:${PEER_PORT}`,
      });
    }
    expect(all.map((i) => i.ringHash)).toEqual([before, before, before, before]);

    // Discovery runs every 500 ms with the stale answer: no node goes back to
    // the old address (sampled over six intervals), and writes that need
    // demo-3 as one of W = 2 replicas succeed through the other nodes.
    const client = new KvClient(cluster!.clientAddresses, { timeoutMs: 10_000 });
    try {
      for (let i = 0; i < 15; i++) {
        for (const info of await infos(cluster!.clientAddresses))
          expect({
            self: info.self,
            peer: info.members.find((x) => x.name === 'demo-3')!.peerAddress,
          }).toEqual({ self: info.self, peer: `${hostOf(5)}:${PEER_PORT}` });
        await client.set(`dns:moved:${i}`, `m${i}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      client.close();
    }
    const onDemo3 = new KvClient(restarted.clientAddress, { timeoutMs: 10_000 });
    try {
      for (let i = 0; i < 15; i++)
        expect((await onDemo3.get(`dns:moved:${i}`)).value.toString()).toBe(`m${i}`);
    } finally {
      onDemo3.close();
    }
  }, 90_000);
});
