// The cluster as one node's ClusterInfo describes it: the ring (rebuilt
// from the member names and vnodes, checked against the node's ring hash so
// the client places keys exactly as the nodes do), each member's address
// and whether it is up. ClusterInfo lists members that are not in the ring
// (a draining one, held for a while): the ring is the members that own a
// share of it, or, failing the hash check, all listed ones; when neither
// matches the node's hash the ring is not known and calls go to any node.
import { MemberState, type ClusterInfoResponse } from './gen/kvring/v1/kvring.js';
import { Ring } from './ring/ring.js';

export interface Replica {
  readonly name: string;
  /** Where this client dials it; undefined when it has no address this client may use. */
  readonly address: string | undefined;
  /** The answering node saw it up (or was it). */
  readonly up: boolean;
}

export class Topology {
  private constructor(
    readonly ring: Ring,
    readonly n: number,
    private readonly members: ReadonlyMap<string, Replica>,
  ) {}

  get ringHash(): string {
    return this.ring.ringHash;
  }

  /**
   * The view in `info`, or undefined when it names no ring this client can
   * rebuild. `previous` lends its Ring when the hash is unchanged (building
   * one sorts members * vnodes tokens); `addressOf` maps a member's
   * advertised client address to one this client dials.
   */
  static from(
    info: ClusterInfoResponse,
    previous: Topology | undefined,
    addressOf: (clientAddress: string) => string | undefined,
  ): Topology | undefined {
    if (!info.ringHash || info.members.length === 0 || info.replicationFactor < 1) return undefined;
    const ring =
      previous?.ringHash === info.ringHash
        ? previous.ring
        : matchingRing(info, [info.members.filter((m) => m.ownership > 0), info.members]);
    if (ring === undefined) return undefined;
    const members = new Map<string, Replica>(
      info.members.map((m) => [
        m.name,
        {
          name: m.name,
          address: m.clientAddress ? addressOf(m.clientAddress) : undefined,
          up: m.state === MemberState.MEMBER_STATE_UP || m.state === MemberState.MEMBER_STATE_SELF,
        },
      ]),
    );
    return new Topology(ring, info.replicationFactor, members);
  }

  /** The key's replicas in ring order. */
  replicas(key: string): Replica[] {
    return this.ring
      .preferenceList(key, this.n)
      .map((name) => this.members.get(name) ?? { name, address: undefined, up: false });
  }

  /** Every member address this client may dial. */
  addresses(): string[] {
    return [...this.members.values()].flatMap((m) => (m.address === undefined ? [] : [m.address]));
  }
}

function matchingRing(
  info: ClusterInfoResponse,
  candidates: ReadonlyArray<ClusterInfoResponse['members']>,
): Ring | undefined {
  for (const members of candidates) {
    if (members.length === 0) continue;
    try {
      const ring = new Ring(
        members.map((m) => m.name),
        { vnodes: info.vnodes },
      );
      if (ring.ringHash === info.ringHash) return ring;
    } catch {
      // vnodes out of range or an empty name: not a ring this client can place keys on.
    }
  }
  return undefined;
}
