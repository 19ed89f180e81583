// Stub nodes as a cluster: each on its own loopback address with one shared
// port (as pods behind a headless Service), a fake DNS that answers only
// from its table (tests send no DNS query), and ClusterInfo views built
// from the same ring code the nodes run.
import { MemberState, type ClusterInfoResponse } from '../../src/gen/kvring/v1/kvring.js';
import { Ring } from '../../src/ring/index.js';
import type { AddressResolver } from '../../src/targets.js';
import { StubNode } from './stub-node.js';

export const VNODES = 16;
export const N = 3;

/** Starts `count` stubs on 127.x.y.1.., one port; retries another subnet when the port is taken. */
export async function startStubs(count: number): Promise<{ stubs: StubNode[]; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const subnet = `127.${10 + Math.floor(Math.random() * 240)}.${1 + Math.floor(Math.random() * 250)}`;
    const stubs: StubNode[] = [];
    try {
      const first = new StubNode();
      await first.start(`${subnet}.1`);
      stubs.push(first);
      const port = Number(first.address.split(':')[1]);
      for (let i = 2; i <= count; i++) {
        const s = new StubNode();
        await s.start(`${subnet}.${i}`, port);
        stubs.push(s);
      }
      return { stubs, port };
    } catch (err) {
      await Promise.all(stubs.map((s) => s.stop()));
      if (attempt >= 4) throw err;
    }
  }
}

/** A node's view: `members` (name -> stub) in the ring, `down` seen down. */
export function view(
  members: ReadonlyArray<readonly [string, StubNode]>,
  down: readonly string[] = [],
): { info: ClusterInfoResponse; ring: Ring } {
  const ring = new Ring(
    members.map(([name]) => name),
    { vnodes: VNODES },
  );
  const own = ring.ownership();
  const info: ClusterInfoResponse = {
    self: members[0]![0],
    incarnation: '1',
    members: members.map(([name, stub]) => ({
      name,
      peerAddress: '',
      clientAddress: stub.address,
      state: down.includes(name) ? MemberState.MEMBER_STATE_DOWN : MemberState.MEMBER_STATE_UP,
      ownership: own.get(name) ?? 0,
      incarnation: '1',
    })),
    replicationFactor: N,
    readQuorum: 2,
    writeQuorum: 2,
    vnodes: VNODES,
    ringHash: ring.ringHash,
    postgresReachable: true,
    legacyApiReachable: true,
    hintsPending: 0,
    draining: false,
    warmup: undefined,
  };
  return { info, ring };
}

/** DNS from a table; counts the questions. */
export class FakeDns implements AddressResolver {
  readonly table = new Map<string, string[]>();
  readonly asked: string[] = [];

  resolve(host: string): Promise<readonly string[]> {
    this.asked.push(host);
    const ips = this.table.get(host);
    if (ips === undefined)
      return Promise.reject(Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(ips);
  }

  /** Points `name` at the stubs' IPs. */
  point(name: string, stubs: readonly StubNode[]): void {
    this.table.set(
      name,
      stubs.map((s) => s.address.split(':')[0]!),
    );
  }
}
