// An informer: a local cache of one resource type kept current by list +
// watch, calling handlers on every change. It never gives up and never
// exits the process:
// - a watch that ends normally (server timeout) resumes from the last
//   resourceVersion;
// - a watch that goes quiet (no event and no bookmark for `idleMs`) is
//   presumed dead (a half-open connection) and restarted;
// - "410 Gone" (the resourceVersion was compacted) relists, and the handlers
//   see the difference as adds, updates and deletes;
// - any other error retries with exponential backoff (capped), counted in
//   the metrics so that a crash-looping watch is visible.
import type { KubeObject } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { KubeClient, WatchEvent } from './client.js';
import { KubeApiError } from './errors.js';
import type { ResourceType } from './resources.js';

export interface InformerHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, obj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  clock: Clock;
  namespace?: string;
  labelSelector?: string;
  metadataOnly?: boolean;
  /** A watch with no event or bookmark for this long is restarted (default 2 minutes). */
  idleMs?: number;
  /** Longest server-side watch duration before a clean restart (default 5-10 min, randomised). */
  watchTimeoutSeconds?: () => number;
  log?: (level: 'info' | 'warn' | 'debug', msg: string, fields?: Record<string, unknown>) => void;
  /** Called on every restart of the list/watch loop, with why. */
  onRestart?: (reason: 'closed' | 'idle' | 'gone' | 'error') => void;
}

function cacheKey(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resourceVersion = '';
  private hasSynced = false;
  private syncWaiters: (() => void)[] = [];
  private stopper: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    private readonly o: InformerOptions,
  ) {}

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  start(): void {
    if (this.loop) return;
    this.stopper = new AbortController();
    this.loop = this.run(this.stopper.signal);
  }

  async stop(): Promise<void> {
    this.stopper?.abort();
    await this.loop;
    this.loop = undefined;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** True once the first list has been loaded into the cache. */
  synced(): boolean {
    return this.hasSynced;
  }

  /** Resolves once synced (or when stopped). */
  waitForSync(): Promise<void> {
    if (this.hasSynced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string, name: string): T | undefined {
    return this.store.get(`${namespace}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist(signal);
        await this.client.watch(
          this.resource,
          {
            ...(this.o.namespace && { namespace: this.o.namespace }),
            ...(this.o.labelSelector && { labelSelector: this.o.labelSelector }),
            ...(this.o.metadataOnly && { metadataOnly: true }),
            signal,
            resourceVersion: this.resourceVersion,
            timeoutSeconds: this.o.watchTimeoutSeconds?.() ?? 300 + Math.floor(Math.random() * 300),
            idleMs: this.o.idleMs ?? 120_000,
          },
          (e) => this.apply(e),
        );
        failures = 0;
        if (!signal.aborted) this.o.onRestart?.('closed');
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.isGone) {
          this.log('info', 'watch expired; relisting', { err: err.message });
          this.resourceVersion = '';
          this.o.onRestart?.('gone');
          continue;
        }
        if (err instanceof Error && err.name === 'WatchIdleError') {
          this.log('info', 'watch went quiet; restarting it', { err: err.message });
          this.o.onRestart?.('idle');
          continue;
        }
        failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7));
        const hint =
          err instanceof KubeApiError && err.isNotFound
            ? `the ${this.resource.kind} API is not served: is its CRD installed (kubectl apply -f crds/)?`
            : err instanceof KubeApiError && err.isForbidden
              ? `the operator may not list/watch ${this.resource.plural}: check its RBAC (operator/deploy/rbac.yaml)`
              : undefined;
        this.log('warn', 'list/watch failed; retrying', {
          err: errorText(err),
          retryInMs: delay,
          ...(hint && { hint }),
        });
        this.o.onRestart?.('error');
        await this.o.clock.sleep(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const res = await this.client.listAll<T>(this.resource, {
      ...(this.o.namespace && { namespace: this.o.namespace }),
      ...(this.o.labelSelector && { labelSelector: this.o.labelSelector }),
      ...(this.o.metadataOnly && { metadataOnly: true }),
      signal,
    });
    const fresh = new Map<string, T>();
    for (const item of res.items) fresh.set(cacheKey(item), item);
    // Deletions that happened while we were not watching.
    for (const [k, old] of this.store) if (!fresh.has(k)) this.remove(k, old);
    for (const item of fresh.values()) this.upsert(item);
    this.resourceVersion = res.metadata.resourceVersion ?? '';
    if (!this.hasSynced) {
      this.hasSynced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private apply(e: WatchEvent): void {
    const obj = e.object as T;
    const rv = obj.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (e.type === 'DELETED') {
      const k = cacheKey(obj);
      const old = this.store.get(k);
      this.remove(k, old ?? obj);
    } else this.upsert(obj);
    if (rv) this.resourceVersion = rv;
  }

  private upsert(obj: T): void {
    const k = cacheKey(obj);
    const old = this.store.get(k);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.store.set(k, obj);
    for (const h of this.handlers) {
      try {
        if (old) h.onUpdate?.(old, obj);
        else h.onAdd?.(obj);
      } catch (err) {
        this.log('warn', 'informer handler failed', { err: errorText(err) });
      }
    }
  }

  private remove(k: string, obj: T): void {
    if (!this.store.delete(k)) return;
    for (const h of this.handlers) {
      try {
        h.onDelete?.(obj);
      } catch (err) {
        this.log('warn', 'informer handler failed', { err: errorText(err) });
      }
    }
  }

  private log(level: 'info' | 'warn' | 'debug', msg: string, fields: Record<string, unknown> = {}): void {
    this.o.log?.(level, msg, { resource: this.resource.plural, ...fields });
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
