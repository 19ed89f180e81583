// The drains in flight. A drain can take minutes (a node streams all its
// keys), far longer than a reconcile should hold a worker, so it runs in
// the background here and the reconcile polls its state; when a drain
// ends, the cluster is queued again to take the next step at once. State
// is in memory: after an operator restart the drains simply run again
// (streaming keys twice is harmless: a receiver keeps the higher version).
import type { Clock } from '../clock.js';
import { errorText } from '../kube/informer.js';
import type { NodeConnection } from '../node-client.js';

type State =
  | { kind: 'running' }
  | { kind: 'done'; keysStreamed: number; reported: boolean }
  | { kind: 'failed'; error: string; at: number };

export interface LeavingPod {
  name: string;
  /** host:port of the node's peer port (where Drain is served), when the pod runs. */
  address?: string;
}

export interface DrainPoll {
  /** Drained, or skipped because they were not running (nothing in memory to hand over). */
  drained: string[];
  started: string[];
  succeeded: { pod: string; keysStreamed: number }[];
  skipped: string[];
  failed: { pod: string; error: string }[];
}

export class DrainTracker {
  private readonly clusters = new Map<string, { leaving: string; pods: Map<string, State> }>();

  constructor(
    private readonly clock: Clock,
    /** Called when a drain of `clusterKey` ends, to reconcile it again. */
    private readonly onSettled: (clusterKey: string) => void,
    private readonly retryDelayMs = 15_000,
    private readonly onResult?: (result: 'succeeded' | 'failed' | 'skipped') => void,
  ) {}

  /**
   * Starts what needs starting and reports what finished since the last
   * poll. `leaving` is every pod that leaves together.
   */
  poll(clusterKey: string, conn: NodeConnection, leaving: readonly LeavingPod[]): DrainPoll {
    const names = leaving.map((p) => p.name);
    const leavingKey = [...names].sort().join(',');
    let entry = this.clusters.get(clusterKey);
    if (!entry || entry.leaving !== leavingKey) {
      // A different set leaves: earlier drains handed keys to pods that may now leave too.
      entry = { leaving: leavingKey, pods: new Map() };
      this.clusters.set(clusterKey, entry);
    }
    const out: DrainPoll = { drained: [], started: [], succeeded: [], skipped: [], failed: [] };
    const now = this.clock.now();
    for (const pod of leaving) {
      const st = entry.pods.get(pod.name);
      if (st?.kind === 'done') {
        out.drained.push(pod.name);
        if (!st.reported) {
          st.reported = true;
          out.succeeded.push({ pod: pod.name, keysStreamed: st.keysStreamed });
        }
        continue;
      }
      if (st?.kind === 'running') continue;
      if (st?.kind === 'failed') {
        out.failed.push({ pod: pod.name, error: st.error });
        if (now - st.at < this.retryDelayMs) continue;
      }
      if (!pod.address) {
        entry.pods.set(pod.name, { kind: 'done', keysStreamed: 0, reported: true });
        out.skipped.push(pod.name);
        out.drained.push(pod.name);
        this.onResult?.('skipped');
        continue;
      }
      entry.pods.set(pod.name, { kind: 'running' });
      out.started.push(pod.name);
      const current = entry;
      conn.drain(pod.address, names).then(
        (r) => {
          if (this.clusters.get(clusterKey) !== current) return;
          if (r.keysFailed > 0)
            current.pods.set(pod.name, {
              kind: 'failed',
              error: `${r.keysFailed} key(s) could not be handed over`,
              at: this.clock.now(),
            });
          else current.pods.set(pod.name, { kind: 'done', keysStreamed: r.keysStreamed, reported: false });
          this.onResult?.(r.keysFailed > 0 ? 'failed' : 'succeeded');
          this.onSettled(clusterKey);
        },
        (err: unknown) => {
          if (this.clusters.get(clusterKey) !== current) return;
          current.pods.set(pod.name, { kind: 'failed', error: errorText(err), at: this.clock.now() });
          this.onResult?.('failed');
          this.onSettled(clusterKey);
        },
      );
    }
    return out;
  }

  /** Whether any drain of the cluster still runs. */
  running(clusterKey: string): boolean {
    return [...(this.clusters.get(clusterKey)?.pods.values() ?? [])].some((s) => s.kind === 'running');
  }

  forget(clusterKey: string): void {
    this.clusters.delete(clusterKey);
  }
}
