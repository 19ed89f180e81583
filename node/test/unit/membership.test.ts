// Membership as discovery and peers' announcements move it: a drained
// member must stay out of the ring even when discovery lists it again at
// another address (its SRV record outliving its A record makes discovery
// fall back to the host name) — found by the fault suite's membership
// scenario, where the reconnection forgot the member had drained.
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Discovery, MemberMap } from '../../src/cluster/discovery.js';
import type { LocalHandle } from '../../src/cluster/local-handle.js';
import { newIncarnation } from '../../src/cluster/incarnation.js';
import { Membership } from '../../src/cluster/membership.js';
import { createLogger } from '../../src/log.js';
import { NodeMetrics } from '../../src/metrics.js';
import type { PeerConnection } from '../../src/peer/connection.js';

/** What Membership reads of a connection: its address, the peer's announced leaving, close. */
interface FakeConn {
  readonly name: string;
  readonly address: string;
  leaving: boolean;
  up: boolean;
  backingOff: boolean;
  closed: boolean;
  close(): void;
}

class ScriptedDiscovery implements Discovery {
  readonly description = 'scripted';
  list = new Map<string, string>();
  members(): Promise<MemberMap> {
    return Promise.resolve(new Map(this.list));
  }
}

let membership: Membership | undefined;
afterEach(() => membership?.stop());

async function start(
  discovery: ScriptedDiscovery,
  conns: FakeConn[],
  now: () => number = Date.now,
): Promise<Membership> {
  const self = { name: 'a', isSelf: true, up: true, incarnation: 'i' } as unknown as LocalHandle; // only its name is read here
  membership = await Membership.start(
    {
      discovery,
      self,
      selfPeerAddress: 'a:50052',
      vnodes: 16,
      replicationFactor: 3,
      connect: (name, address) => {
        const c: FakeConn = {
          name,
          address,
          leaving: false,
          up: false,
          backingOff: false,
          closed: false,
          close: () => (c.closed = true),
        };
        conns.push(c);
        // The ring stores connections as replica handles; membership itself
        // reads only the fields of FakeConn.
        return c as unknown as PeerConnection;
      },
      onRingChange: () => undefined,
      holdDownMs: 30_000,
      selfLeaving: () => false,
      now,
      log: createLogger('silent'),
      metrics: new NodeMetrics({ member: 'a' }),
    },
    3_600_000,
  );
  return membership;
}

const members = (m: Membership): string[] => [...m.ring.members].sort();

/** Discovery listing a (this node), b, c and d. */
function fourMembers(): ScriptedDiscovery {
  const d = new ScriptedDiscovery();
  d.list = new Map([
    ['a', 'a:50052'],
    ['b', '10.0.0.2:50052'],
    ['c', '10.0.0.3:50052'],
    ['d', '10.0.0.4:50052'],
  ]);
  return d;
}

describe('membership', () => {
  it('keeps a drained member out of the ring when discovery lists it again at another address', async () => {
    const d = fourMembers();
    const conns: FakeConn[] = [];
    const m = await start(d, conns);
    expect(members(m)).toEqual(['a', 'b', 'c', 'd']);

    // d drains: its Hello says leaving, and it leaves the ring at once.
    conns.find((c) => c.name === 'd')!.leaving = true;
    m.reapply();
    expect(members(m)).toEqual(['a', 'b', 'c']);

    // Its A record is gone before its SRV record: discovery names it by host.
    d.list.set('d', 'd.kv-peers.ns.svc:50052');
    await m.refresh(false);
    expect(members(m)).toEqual(['a', 'b', 'c']);

    // A pod d that starts again announces that it is not leaving: back in.
    const ofD = conns.filter((c) => c.name === 'd');
    const fresh = ofD[ofD.length - 1]!;
    fresh.leaving = false;
    m.reapply();
    expect(members(m)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('forgets a drained member once discovery has not listed it for the hold-down (ClusterInfo lists handles)', async () => {
    const d = fourMembers();
    let t = 1_000_000;
    const conns: FakeConn[] = [];
    const m = await start(d, conns, () => t);
    conns.find((c) => c.name === 'd')!.leaving = true;
    m.reapply();
    // The pod is gone: no longer listed; still held while the hold-down runs.
    d.list.delete('d');
    await m.refresh(false);
    expect(m.handles().map((h) => h.name)).toContain('d');
    t += 31_000;
    await m.refresh(false);
    expect(
      m
        .handles()
        .map((h) => h.name)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(members(m)).toEqual(['a', 'b', 'c']);
  });

  it('moves a member to the address its newest incarnation announced; stale DNS answers and older announcements never move it back', async () => {
    const d = fourMembers();
    let t = 1_000_000;
    const conns: FakeConn[] = [];
    const m = await start(d, conns, () => t);
    const ring = m.ring.ringHash;
    const live = (name: string): FakeConn => conns.filter((c) => c.name === name && !c.closed)[0]!;
    const first = newIncarnation(t - 60_000);
    const second = newIncarnation(t);

    // b restarted at 10.0.0.9 and dialled this node: reconnected there at once.
    m.announce('b', second, '10.0.0.9:50052');
    expect(m.addressOf('b')).toBe('10.0.0.9:50052');
    expect(live('b').address).toBe('10.0.0.9:50052');
    live('b').up = true;

    // DNS still answers the old IP (its cache), again and again: b stays.
    for (let i = 0; i < 3; i++) {
      t += 20_000;
      await m.refresh(false);
      expect(m.addressOf('b')).toBe('10.0.0.9:50052');
    }
    // A late Hello of the previous incarnation changes nothing.
    m.announce('b', first, '10.0.0.2:50052');
    expect(m.addressOf('b')).toBe('10.0.0.9:50052');
    expect(conns.filter((c) => c.name === 'b')).toHaveLength(2);

    // b restarts again on the same IP and dials this node while the stream to
    // it is down: a fresh stream now, rather than one waiting out its backoff.
    live('b').up = false;
    live('b').backingOff = true;
    m.announce('b', newIncarnation(t + 1), '10.0.0.9:50052');
    expect(conns.filter((c) => c.name === 'b')).toHaveLength(3);
    expect(live('b').address).toBe('10.0.0.9:50052');
    // The fresh stream is still connecting (not up, not backing off): another Hello leaves it be.
    m.announce('b', newIncarnation(t + 1), '10.0.0.9:50052');
    expect(conns.filter((c) => c.name === 'b')).toHaveLength(3);
    live('b').up = true;

    // A member this node does not know is left to discovery.
    m.announce('e', second, '10.0.0.5:50052');
    expect(m.addressOf('e')).toBeUndefined();
    expect(m.ring.ringHash).toBe(ring);

    // Unreachable at the announced address for longer than the hold-down:
    // discovery's answer counts again.
    live('b').up = false;
    t += 31_000;
    await m.refresh(false);
    expect(m.addressOf('b')).toBe('10.0.0.2:50052');
    expect(m.ring.ringHash).toBe(ring);
  });
});
