// LeaseStore on a coordination.k8s.io/v1 Lease. Times are MicroTime
// (RFC 3339 with microseconds), as client-go writes them, so `kubectl get
// lease -o yaml` reads the same as for any Kubernetes controller.
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { RESOURCES } from '../kube/resources.js';
import { LeaseConflictError, type LeaseRecord, type LeaseStore, type VersionedLease } from './lease-store.js';

interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function parseTime(s: string | undefined): number {
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : 0;
}

export class KubeLeaseStore implements LeaseStore {
  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
  ) {}

  describe(): string {
    return `lease ${this.namespace}/${this.name}`;
  }

  async get(signal?: AbortSignal): Promise<VersionedLease | undefined> {
    const obj = await this.client.get<LeaseObject>(RESOURCES.lease, this.namespace, this.name, signal);
    return obj && this.fromObject(obj);
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<VersionedLease> {
    try {
      const obj = await this.client.create<LeaseObject>(
        RESOURCES.lease,
        this.namespace,
        this.toObject(record),
        signal,
      );
      return this.fromObject(obj);
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 409) throw new LeaseConflictError(err.message);
      throw err;
    }
  }

  async update(record: LeaseRecord, version: string, signal?: AbortSignal): Promise<VersionedLease> {
    try {
      const obj = await this.client.replace<LeaseObject>(
        RESOURCES.lease,
        this.toObject(record, version),
        signal && { signal },
      );
      return this.fromObject(obj);
    } catch (err) {
      if (err instanceof KubeApiError && (err.statusCode === 409 || err.isNotFound))
        throw new LeaseConflictError(err.message);
      throw err;
    }
  }

  private toObject(r: LeaseRecord, resourceVersion?: string): LeaseObject {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': 'kvring-operator' },
        ...(resourceVersion && { resourceVersion }),
      },
      spec: {
        holderIdentity: r.holderIdentity,
        leaseDurationSeconds: r.leaseDurationSeconds,
        acquireTime: microTime(r.acquireTime),
        renewTime: microTime(r.renewTime),
        leaseTransitions: r.leaseTransitions,
      },
    };
  }

  private fromObject(obj: LeaseObject): VersionedLease {
    const s = obj.spec ?? {};
    return {
      version: obj.metadata.resourceVersion ?? '',
      record: {
        holderIdentity: s.holderIdentity ?? '',
        leaseDurationSeconds: s.leaseDurationSeconds ?? 15,
        acquireTime: parseTime(s.acquireTime),
        renewTime: parseTime(s.renewTime),
        leaseTransitions: s.leaseTransitions ?? 0,
      },
    };
  }
}
