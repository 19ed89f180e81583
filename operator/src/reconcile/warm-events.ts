// Kubernetes Events for warm restarts: a node reports, in its ClusterInfo,
// what its warm-up at start loaded before it reported ready (keys, bytes,
// duration, why it stopped). The node has no Kubernetes credentials (least
// privilege), so the operator, which probes every pod anyway, records one
// Event per pod process (its incarnation) on the KVCluster: Normal when the
// warm-up ran its course or met its byte bound, Warning when it hit its time
// bound or failed (the pod came up colder than it could have).
import type { EventType } from '../events.js';
import type { NodeReport } from './node-report.js';

export interface WarmupEvent {
  readonly type: EventType;
  readonly reason: 'WarmRestart' | 'WarmRestartIncomplete';
  readonly note: string;
}

/** Per cluster, the incarnation of each pod already reported. */
export class WarmupEvents {
  private readonly seen = new Map<string, Map<string, string>>();

  /** The events to record for reports not seen before; forgets pods that are gone. */
  fresh(clusterKey: string, reports: readonly NodeReport[]): WarmupEvent[] {
    const seen = this.seen.get(clusterKey) ?? new Map<string, string>();
    this.seen.set(clusterKey, seen);
    const out: WarmupEvent[] = [];
    const present = new Set<string>();
    for (const r of reports) {
      present.add(r.pod);
      const w = r.info?.warmup;
      const inc = r.info?.incarnation;
      if (w === undefined || !inc || seen.get(r.pod) === inc) continue;
      seen.set(r.pod, inc);
      if (w.stopped === 'disabled') continue;
      const incomplete = w.stopped === 'time' || w.stopped === 'failed';
      out.push({
        type: incomplete ? 'Warning' : 'Normal',
        reason: incomplete ? 'WarmRestartIncomplete' : 'WarmRestart',
        note:
          `${r.pod} loaded ${w.keys} hot keys (${w.bytes} bytes) from ${w.source} in ` +
          `${(w.durationMs / 1000).toFixed(1)} s before it reported ready (stopped: ${w.stopped})`,
      });
    }
    for (const pod of seen.keys()) if (!present.has(pod)) seen.delete(pod);
    return out;
  }

  forget(clusterKey: string): void {
    this.seen.delete(clusterKey);
  }
}
