// The storage a leader election runs on: one record with optimistic
// concurrency. In a cluster it is a coordination.k8s.io/v1 Lease
// (kube-lease-store.ts); unit tests use MemoryLeaseStore.

export interface LeaseRecord {
  /** Who holds the lease; '' means released. */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Milliseconds since the epoch. */
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

export interface VersionedLease {
  record: LeaseRecord;
  /** Opaque version (resourceVersion); an update with a stale one fails with LeaseConflictError. */
  version: string;
}

export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
}

export interface LeaseStore {
  /** The current lease, or undefined when none exists yet. */
  get(signal?: AbortSignal): Promise<VersionedLease | undefined>;
  /** Creates the lease; LeaseConflictError when it already exists. */
  create(record: LeaseRecord, signal?: AbortSignal): Promise<VersionedLease>;
  /** Replaces the lease if it is still at `version`; LeaseConflictError otherwise. */
  update(record: LeaseRecord, version: string, signal?: AbortSignal): Promise<VersionedLease>;
  /** Where the lease lives, for logs. */
  describe(): string;
}

/** An in-memory lease shared by the candidates of one test. */
export class MemoryLeaseStore implements LeaseStore {
  private current: VersionedLease | undefined;
  private version = 0;

  get(): Promise<VersionedLease | undefined> {
    return Promise.resolve(
      this.current && { record: { ...this.current.record }, version: this.current.version },
    );
  }

  async create(record: LeaseRecord): Promise<VersionedLease> {
    if (this.current) throw new LeaseConflictError('lease already exists');
    this.current = { record: { ...record }, version: String(++this.version) };
    return this.get() as Promise<VersionedLease>;
  }

  async update(record: LeaseRecord, version: string): Promise<VersionedLease> {
    if (!this.current || this.current.version !== version)
      throw new LeaseConflictError(`lease changed (have ${version}, now ${this.current?.version ?? 'none'})`);
    this.current = { record: { ...record }, version: String(++this.version) };
    return this.get() as Promise<VersionedLease>;
  }

  /** The record as stored (for assertions). */
  peek(): LeaseRecord | undefined {
    return this.current && { ...this.current.record };
  }

  describe(): string {
    return 'memory';
  }
}
