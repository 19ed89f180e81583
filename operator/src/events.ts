// Kubernetes Events (events.k8s.io/v1) for the steps a person wants to see
// in `kubectl describe kvc`: created objects, scaling, drains, rollouts,
// problems. A repeated event within 30 minutes becomes a series (count and
// last time) rather than a new object, like client-go's recorder. Recording
// never fails a reconcile: an event that cannot be written is logged.
import type { KubeObject } from './api/types.js';
import type { Clock } from './clock.js';
import type { KubeClient } from './kube/client.js';
import { errorText } from './kube/informer.js';
import { RESOURCES } from './kube/resources.js';
import { microTime } from './leader/kube-lease-store.js';
import type { Logger } from './log.js';

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  record(regarding: KubeObject, type: EventType, reason: string, note: string, action?: string): void;
}

interface SeenEvent {
  name: string;
  namespace: string;
  count: number;
  first: number;
}

const SERIES_WINDOW_MS = 30 * 60_000;
const MAX_REMEMBERED = 2000;

export class EventRecorder implements EventSink {
  private readonly seen = new Map<string, SeenEvent>();
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  record(regarding: KubeObject, type: EventType, reason: string, note: string, action = 'Reconcile'): void {
    const m = regarding.metadata ?? {};
    if (!m.namespace || !m.name) return;
    const text = note.length > 1024 ? `${note.slice(0, 1021)}...` : note;
    const key = `${m.uid ?? m.name}|${type}|${reason}|${text}`;
    // Serialize writes so a series update never races its own creation.
    this.pending = this.pending
      .then(() => this.write(key, regarding, type, reason, text, action))
      .catch((err) => this.log.warn({ err: errorText(err), reason }, 'could not record an event'));
  }

  /** Resolves when every event recorded so far was written (tests, shutdown). */
  flush(): Promise<void> {
    return this.pending.then(() => undefined);
  }

  private async write(
    key: string,
    regarding: KubeObject,
    type: EventType,
    reason: string,
    note: string,
    action: string,
  ): Promise<void> {
    const now = this.clock.now();
    const m = regarding.metadata!;
    const prev = this.seen.get(key);
    if (prev && now - prev.first < SERIES_WINDOW_MS) {
      prev.count++;
      try {
        await this.client.patch(RESOURCES.event, prev.namespace, prev.name, {
          series: { count: prev.count, lastObservedTime: microTime(now) },
        });
        return;
      } catch {
        // The event expired or was deleted: write a new one.
      }
    }
    const name = `${m.name}.${now.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.client.create(RESOURCES.event, m.namespace, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: m.namespace },
      eventTime: microTime(now),
      reportingController: 'kvring.dev/operator',
      reportingInstance: this.instance.slice(0, 128),
      action,
      reason,
      note,
      type,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: m.name,
        namespace: m.namespace,
        ...(m.uid && { uid: m.uid }),
      },
    } as KubeObject);
    if (this.seen.size >= MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, namespace: m.namespace!, count: 1, first: now });
  }
}
