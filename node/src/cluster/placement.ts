// The ring plus a handle per member: turns a key into the replica handles of
// its preference list. The ring is rebuilt only when the member names change.
import { Ring } from '@kvring/client/ring';
import type { Placement } from './coordinator.js';
import type { ReplicaHandle } from './replica.js';

export class RingPlacement implements Placement {
  private handleList: ReplicaHandle[] = [];
  /** Re-reads the membership (set by Membership; nothing to re-read for a fixed ring). */
  refresher: (() => Promise<void>) | undefined;

  constructor(
    private ringRef: Ring,
    private handles: ReadonlyMap<string, ReplicaHandle>,
    private readonly n: number,
  ) {
    this.rebuild();
  }

  get ring(): Ring {
    return this.ringRef;
  }

  update(ring: Ring, handles: ReadonlyMap<string, ReplicaHandle>): void {
    this.ringRef = ring;
    this.handles = handles;
    this.rebuild();
  }

  preferenceList(key: string): readonly ReplicaHandle[] {
    const names = this.ringRef.preferenceList(key, this.n);
    const out: ReplicaHandle[] = new Array<ReplicaHandle>(names.length);
    for (let i = 0; i < names.length; i++) out[i] = this.handles.get(names[i]!)!;
    return out;
  }

  refresh(): Promise<void> {
    return this.refresher?.() ?? Promise.resolve();
  }

  handle(name: string): ReplicaHandle | undefined {
    return this.handles.get(name);
  }

  all(): readonly ReplicaHandle[] {
    return this.handleList;
  }

  private rebuild(): void {
    this.handleList = [...this.handles.values()];
  }
}
