// Membership from DNS, as in Kubernetes: three real node processes learn the
// ring from SRV records of a headless Service served by a real DNS server on
// 127.0.0.1 (KVRING_DISCOVERY_SERVICE + KVRING_DNS_SERVER instead of
// KVRING_PEERS); a fourth pod appears in DNS and every ring grows to it.
//
// The nodes are started one by one (not with startLocalCluster, which also
// waits for every peer to be up): these tests are about the ring each node
// builds from DNS, which must not depend on its peers answering.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient, MemberState, type ClusterInfoResponse } from '../../src/client/client.js';
import { LocalCluster, LocalNode, randomSubnet } from '../../src/dev/local-cluster.js';
import { TestDnsServer } from '../support/dns-server.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const SERVICE = 'demo-peers.ns.svc.cluster.local';
const SRV_NAME = `_peer._tcp.${SERVICE}`;
const PEER_PORT = 50052;

let db: TestPostgres;
let dns: TestDnsServer;
let cluster: LocalCluster | undefined;
const logDir = mkdtempSync(join(tmpdir(), 'kvring-dns-'));
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

/** Pod i as a node process discovering its peers through the test DNS server. */
function pod(i: number): LocalNode {
  return new LocalNode(
    `demo-${i}`,
    hostOf(i),
    {
      KVRING_NODE_NAME: `demo-${i}`,
      KVRING_HOST: hostOf(i),
      KVRING_POSTGRES_URL: db.url,
      KVRING_LEGACY_URL: '',
      KVRING_DISCOVERY_SERVICE: SERVICE,
      KVRING_DNS_SERVER: dns.address,
      KVRING_DISCOVERY_INTERVAL: '500ms',
      KVRING_LOG_LEVEL: 'info',
    },
    join(logDir, `demo-${i}.log`),
    false,
  );
}

beforeAll(async () => {
  db = await startPostgres();
  dns = await TestDnsServer.start();
  publish(3);
  cluster = new LocalCluster([pod(0), pod(1), pod(2), pod(3)], logDir);
  // demo-3 starts in the second test, once DNS lists it.
  await Promise.all(cluster.nodes.slice(0, 3).map((n) => n.startReady()));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
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

/** What each node sees: its ring hash and member names. */
function views(all: readonly ClusterInfoResponse[]): string[] {
  return all.map(
    (i) =>
      `${i.self}: ring ${i.ringHash} members ${i.members
        .map((m) => m.name)
        .sort()
        .join(' ')}`,
  );
}

/**
 * Polls ClusterInfo on every address until each node's ring has exactly
 * `expected` as members and all nodes have the same ring hash. Bounded by
 * `timeoutMs`; the failure says what each node saw last.
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
              .join(' ') === want,
        );
      if (agreed) return all;
    } catch (err) {
      last = [(err as Error).message];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`rings did not agree on ${want} within ${timeoutMs} ms:\n${last.join('\n')}`);
}

describe('membership from DNS', () => {
  it('builds one ring on every node from the pods named by the SRV targets', async () => {
    const running = cluster!.nodes.slice(0, 3);
    const all = await waitForRing(
      running.map((n) => n.clientAddress),
      names(3),
      30_000,
    );
    for (const info of all) {
      expect(info.members).toHaveLength(3);
      // Each node knows itself under the name DNS gives it.
      expect(
        info.members.filter((m) => m.state === MemberState.MEMBER_STATE_SELF).map((m) => m.name),
      ).toEqual([info.self]);
      const share = info.members.reduce((s, m) => s + m.ownership, 0);
      expect(share).toBeCloseTo(1, 6);
    }
    expect(all.map((i) => i.self).sort()).toEqual(names(3));
  });

  it('grows every ring to a fourth pod once DNS lists it', async () => {
    const before = (await infos(cluster!.nodes.slice(0, 3).map((n) => n.clientAddress)))[0]!.ringHash;
    publish(4);
    const extra = cluster!.nodes[3]!;
    await extra.startReady();
    const all = await waitForRing(
      cluster!.nodes.map((n) => n.clientAddress),
      names(4),
      30_000,
    );
    expect(all.map((i) => i.members.length)).toEqual([4, 4, 4, 4]);
    expect(all[0]!.ringHash).not.toBe(before);
    for (const info of all) {
      const share = info.members.reduce((s, m) => s + m.ownership, 0);
      expect(share).toBeCloseTo(1, 6);
      expect(info.members.find((m) => m.name === 'demo-3')!.ownership).toBeGreaterThan(0.1);
    }
  });
});
