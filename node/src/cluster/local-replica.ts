// This node's replica: the memory store plus the incarnation rule and the
// ring-view fence (ring-view.ts). The peer server and the coordinator's local
// handle both go through it, so a write is judged the same way however it
// arrives.
import { PeerStatus, type PeerOp, type PeerResult } from '../gen/kvring/v1/peer.js';
import type { MemoryStore } from '../store/memory-store.js';
import type { RingView } from './ring-view.js';

const EMPTY = Buffer.alloc(0);

export class LocalReplica {
  constructor(
    private readonly store: MemoryStore,
    /** Unique per process start. */
    readonly incarnation: string,
    private readonly now: () => number,
    /** Absent in tests of the store alone: every key is owned. */
    private readonly view?: RingView,
    /** Told whether each read was answered from memory (the memory hit ratio). */
    private readonly onRead?: (hit: boolean) => void,
  ) {}

  /** The held entry; `unverified` tells the coordinator not to believe it without PostgreSQL. */
  read(id: number, key: string): PeerResult {
    const e = this.store.get(key);
    // A copy of a key this node does not own, or gained in a change still
    // settling, may have missed writes: a miss sends the coordinator to PostgreSQL.
    if (e === undefined || (this.view !== undefined && !this.view.trusts(key))) {
      this.onRead?.(false);
      return result(id, PeerStatus.PEER_STATUS_OK, false, EMPTY, 0, false, 0, false, '');
    }
    this.onRead?.(true);
    const ttl = e.expiresAt === 0 ? 0 : Math.max(1, Math.ceil(e.expiresAt - this.now()));
    const r = result(
      id,
      PeerStatus.PEER_STATUS_OK,
      true,
      e.value ?? EMPTY,
      e.version,
      e.tombstone,
      ttl,
      false,
      '',
    );
    r.unverified = e.unverified;
    return r;
  }

  /**
   * Applies a write if it was meant for this incarnation and is newer than
   * what is held. A write for an earlier incarnation was captured before this
   * process started and may be older than what a quorum acknowledged since:
   * applying it could make this replica go back in time.
   *
   * expired: `op` is an expiry marker (PEER_OP_KIND_EXPIRE): its version
   * expired, so what is held at or below it is dropped (MemoryStore.fence)
   * and nothing is stored.
   */
  write(id: number, op: PeerOp | WriteLike, incarnation: string, expired = false): PeerResult {
    if (incarnation !== this.incarnation)
      return result(
        id,
        PeerStatus.PEER_STATUS_STALE_INCARNATION,
        false,
        EMPTY,
        0,
        false,
        0,
        false,
        'restarted',
      );
    if (this.view !== undefined && !this.view.owns(op.key))
      return result(
        id,
        PeerStatus.PEER_STATUS_NOT_OWNER,
        false,
        EMPTY,
        0,
        false,
        0,
        false,
        `not an owner in view ${this.view.ring.ringHash}`,
      );
    if (expired) {
      const fenced = this.store.fence(op.key, op.version);
      return result(id, PeerStatus.PEER_STATUS_OK, false, EMPTY, op.version, false, 0, fenced, '');
    }
    const applied = this.store.apply(
      op.key,
      op.tombstone ? null : (op.value ?? EMPTY),
      op.version,
      op.tombstone,
      op.ttlMs,
    );
    // Not applied: report the version held, so a coordinator can tell a
    // newer write from PostgreSQL having lost commits (regression.ts).
    // A write refused by a floor reports the floor: the replica held that version.
    const version = applied ? op.version : (this.store.knownVersion(op.key) ?? op.version);
    return result(id, PeerStatus.PEER_STATUS_OK, false, EMPTY, version, op.tombstone, 0, applied, '');
  }
}

interface WriteLike {
  readonly key: string;
  readonly value: Buffer | null;
  readonly version: number;
  readonly tombstone: boolean;
  readonly ttlMs: number;
}

export function result(
  id: number,
  status: PeerStatus,
  found: boolean,
  value: Buffer,
  version: number,
  tombstone: boolean,
  ttlMs: number,
  applied: boolean,
  message: string,
): PeerResult {
  return {
    id,
    status,
    found,
    value,
    version,
    tombstone,
    ttlMs,
    applied,
    message,
    code: 0,
    fromLegacy: false,
    unverified: false,
  };
}
