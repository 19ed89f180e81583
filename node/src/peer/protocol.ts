// The version of the peer protocol (the replication stream's frames, their
// op kinds, statuses and fields) and what each version brought. Members of
// one cluster run different releases during a rolling upgrade or a rollback;
// each tells its version in the Hello that opens a stream (a release from
// before the field sends none: 0), and a sender uses a feature only with a
// peer whose version has it. The newer member adapts; the older one needs to
// know nothing about what came after it. Rules: docs/ARCHITECTURE.md
// "Mixed versions".

/**
 * The version this build speaks. Bump it with each change a peer of the
 * previous version would misread (a new op kind, status, or a field whose
 * absence changes the meaning), and add the change to PEER_FEATURES.
 * Fields an older peer may simply ignore (proto3 skips unknown fields) need
 * no bump: Hello.address, PeerOp.trace_context.
 */
export const PEER_PROTOCOL_VERSION = 1;

/**
 * The oldest version this build still works with. A peer below it is never
 * counted up (no reads, writes or hints go to it) and logged as
 * incompatible. Raise it only to a version that the previous release
 * already speaks, so that a rolling upgrade by one release, and its
 * rollback, always interoperate.
 */
export const MIN_PEER_PROTOCOL_VERSION = 0;

/**
 * The first version of each feature a sender may use only with a peer that
 * has it. Version 0 is the protocol of every release before versions were
 * told (commit 90a4854 and older): read, write, ping, legacy fetch and
 * expiry ops; the OK, stale-incarnation, error and not-owner statuses; ring
 * views, handoff and leaving in the Hello.
 */
export const PEER_FEATURES = {
  /** The peer tells its protocol version in its Hello. */
  protocolVersion: 1,
} as const satisfies Record<string, number>;

export type PeerFeature = keyof typeof PEER_FEATURES;

/** Whether a peer that speaks `version` understands `feature`. */
export function peerSupports(version: number, feature: PeerFeature): boolean {
  return version >= PEER_FEATURES[feature];
}
