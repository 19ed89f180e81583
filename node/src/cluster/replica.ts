// What the coordinator talks to for each member of a preference list: this
// node's own store or a peer behind a replication stream, behind one
// interface so quorum logic does not care which.
import type { PeerResult, WriteCause } from '../gen/kvring/v1/peer.js';

export interface WriteRequest {
  readonly key: string;
  /** null for a tombstone. */
  readonly value: Buffer | null;
  readonly version: number;
  readonly tombstone: boolean;
  /** Remaining time to live; 0 = none. */
  readonly ttlMs: number;
  /**
   * An expiry marker (value null, tombstone false, ttlMs 0): `version`
   * expired; the replica drops what it holds at or below it and keeps the
   * version as a floor (MemoryStore.fence). Sent as PEER_OP_KIND_EXPIRE.
   */
  readonly expired?: boolean;
}

export interface ReplicaHandle {
  readonly name: string;
  readonly isSelf: boolean;
  /** The failure detector's verdict: down members are skipped for reads and get hints. */
  readonly up: boolean;
  /**
   * The member's incarnation as last seen ('' when never seen). Callers
   * capture it before they read or commit a value, and a write carries it:
   * a replica that restarted since drops the write, so it never goes back
   * in time.
   */
  readonly incarnation: string;
  read(key: string): Promise<PeerResult>;
  write(w: WriteRequest, incarnation: string, cause: WriteCause): Promise<PeerResult>;
  /** Asks this member, as the key's primary, to read the key through (coalesced there). */
  legacyFetch(key: string): Promise<PeerResult>;
}
