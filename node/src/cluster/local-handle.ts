// This node as a member of its own preference lists: always up, answers
// from the local replica without a network hop.
import type { PeerResult, WriteCause } from '../gen/kvring/v1/peer.js';
import type { LocalReplica } from './local-replica.js';
import type { ReplicaHandle, WriteRequest } from './replica.js';

export class LocalHandle implements ReplicaHandle {
  readonly isSelf = true;
  readonly up = true;

  constructor(
    readonly name: string,
    private readonly replica: LocalReplica,
    private readonly readThrough: (key: string) => Promise<PeerResult>,
  ) {}

  get incarnation(): string {
    return this.replica.incarnation;
  }

  read(key: string): Promise<PeerResult> {
    return Promise.resolve(this.replica.read(0, key));
  }

  write(w: WriteRequest, incarnation: string, _cause: WriteCause): Promise<PeerResult> {
    return Promise.resolve(this.replica.write(0, w, incarnation, w.expired === true));
  }

  legacyFetch(key: string): Promise<PeerResult> {
    return this.readThrough(key);
  }
}
