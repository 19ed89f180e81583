// A small REST client for the Kubernetes API on top of @kubernetes/client-node's
// KubeConfig (which handles kubeconfig files, in-cluster tokens, exec
// plugins and client certificates). It adds what the operator needs and
// the generated clients make awkward: server-side apply on any kind, the
// status subresource, metadata-only lists and watches, errors that carry
// the API's reason, and one pooled connection instead of a new TLS
// handshake per request.
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';
import { FIELD_MANAGER, type KubeObject } from '../api/types.js';
import { apiErrorFrom, KubeApiError } from './errors.js';
import { collectionPath, objectPath, resourceOf, resourceOfPath, type ResourceType } from './resources.js';
import { SpanKind, inChildSpan } from '../tracing/spans.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** Per-request timeout (default 30 s); not applied to watches. */
  timeoutMs?: number;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  /** Only metadata (PartialObjectMetadata): far less memory for kinds whose content is not needed. */
  metadataOnly?: boolean;
  signal?: AbortSignal;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
}

/** The watch stream ended because nothing arrived for the idle timeout. */
export class WatchIdleError extends Error {
  override readonly name = 'WatchIdleError';
}

const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export class KubeClient {
  private dispatcher: Dispatcher | undefined;
  private dispatcherAt = 0;
  private readonly server: string;
  private readonly host: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: { userAgent?: string; timeoutMs?: number; fieldManager?: string } = {},
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.host = new URL(this.server).hostname;
  }

  get serverUrl(): string {
    return this.server;
  }

  get fieldManager(): string {
    return this.opts.fieldManager ?? FIELD_MANAGER;
  }

  /**
   * One request; rejects with KubeApiError on an error status. JSON in, JSON
   * out. Inside a reconcile's span it gets a client span of its own.
   */
  request<T>(method: HttpMethod, path: string, o: RequestOptions = {}): Promise<T> {
    return inChildSpan(
      `${method} ${resourceOfPath(path)}`,
      SpanKind.CLIENT,
      { 'http.request.method': method, 'url.path': path, 'server.address': this.host },
      (span) =>
        this.requestUntraced<T>(method, path, o, (status) =>
          span?.setAttribute('http.response.status_code', status),
        ),
    );
  }

  private async requestUntraced<T>(
    method: HttpMethod,
    path: string,
    o: RequestOptions,
    onStatus: (status: number) => void,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs ?? 30_000);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    const res = await this.send(method, path, o, signal);
    onStatus(res.status);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the error message
    }
    if (res.status >= 400) throw apiErrorFrom(res.status, body, `${method} ${path}: HTTP ${res.status}`);
    return body as T;
  }

  async get<T extends KubeObject>(
    r: ResourceType,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    try {
      return await this.request<T>(HttpMethod.GET, objectPath(r, namespace, name), signal && { signal });
    } catch (err) {
      if (err instanceof KubeApiError && err.isNotFound) return undefined;
      throw err;
    }
  }

  /** One page of a list. */
  list<T extends KubeObject>(
    r: ResourceType,
    o: ListOptions & { limit?: number; continue?: string } = {},
  ): Promise<ListResult<T>> {
    return this.request<ListResult<T>>(HttpMethod.GET, collectionPath(r, o.namespace), {
      query: { labelSelector: o.labelSelector, limit: o.limit, continue: o.continue },
      ...(o.metadataOnly && { accept: METADATA_LIST }),
      ...(o.signal && { signal: o.signal }),
      timeoutMs: 60_000,
    });
  }

  /** Every page of a list, and the resourceVersion to watch from. */
  async listAll<T extends KubeObject>(r: ResourceType, o: ListOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    // Bounded: 10,000 pages of 500 is far beyond anything one operator watches.
    for (let page = 0; page < 10_000; page++) {
      const res = await this.list<T>(r, { ...o, limit: 500, ...(cont && { continue: cont }) });
      items.push(...(res.items ?? []));
      resourceVersion = res.metadata?.resourceVersion;
      cont = res.metadata?.continue;
      if (!cont) break;
    }
    return { items, metadata: { ...(resourceVersion && { resourceVersion }) } };
  }

  /**
   * Server-side apply under the operator's field manager. `force` takes over
   * fields another manager set (a person's `kubectl edit`): the operator
   * owns what it builds.
   */
  apply<T extends KubeObject>(
    obj: KubeObject,
    o: { force?: boolean; signal?: AbortSignal } = {},
  ): Promise<T> {
    const r = resourceOf(obj);
    return this.request<T>(
      HttpMethod.PATCH,
      objectPath(r, obj.metadata?.namespace, obj.metadata?.name ?? ''),
      {
        query: { fieldManager: this.fieldManager, force: o.force ?? true },
        body: obj,
        contentType: 'application/apply-patch+yaml',
        ...(o.signal && { signal: o.signal }),
      },
    );
  }

  create<T extends KubeObject>(
    r: ResourceType,
    namespace: string | undefined,
    obj: KubeObject,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.request<T>(HttpMethod.POST, collectionPath(r, namespace), {
      query: { fieldManager: this.fieldManager },
      body: obj,
      ...(signal && { signal }),
    });
  }

  /** PUT of the whole object (optimistic concurrency through metadata.resourceVersion). */
  replace<T extends KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    o: { subresource?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const path = objectPath(r, obj.metadata?.namespace, obj.metadata?.name ?? '', o.subresource);
    return this.request<T>(HttpMethod.PUT, path, {
      query: { fieldManager: this.fieldManager },
      body: obj,
      ...(o.signal && { signal: o.signal }),
    });
  }

  patch<T extends KubeObject>(
    r: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    o: { contentType?: string; subresource?: string } = {},
  ): Promise<T> {
    return this.request<T>(HttpMethod.PATCH, objectPath(r, namespace, name, o.subresource), {
      query: { fieldManager: this.fieldManager },
      body: patch,
      contentType: o.contentType ?? 'application/merge-patch+json',
    });
  }

  /** Deletes; false when it was already gone. `uid` guards against deleting a newer namesake. */
  async delete(
    r: ResourceType,
    namespace: string | undefined,
    name: string,
    o: { uid?: string } = {},
  ): Promise<boolean> {
    try {
      await this.request(HttpMethod.DELETE, objectPath(r, namespace, name), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          ...(o.uid && { preconditions: { uid: o.uid } }),
        },
      });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.isNotFound) return false;
      throw err;
    }
  }

  /**
   * Streams a watch until the server closes it (resolves), it fails or an
   * ERROR event arrives (rejects with KubeApiError), nothing arrives for
   * `idleMs` (rejects with WatchIdleError), or `signal` aborts (resolves).
   */
  async watch(
    r: ResourceType,
    o: ListOptions & { resourceVersion: string; timeoutSeconds: number; idleMs: number },
    onEvent: (e: WatchEvent) => void,
  ): Promise<void> {
    const ctl = new AbortController();
    const outer = o.signal;
    const onAbort = (): void => ctl.abort();
    outer?.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    let idled = false;
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        idled = true;
        ctl.abort();
      }, o.idleMs);
      idle.unref();
    };
    try {
      arm();
      const res = await this.send(
        HttpMethod.GET,
        collectionPath(r, o.namespace),
        {
          query: {
            watch: true,
            resourceVersion: o.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: o.timeoutSeconds,
            labelSelector: o.labelSelector,
          },
          ...(o.metadataOnly && { accept: METADATA_ONLY }),
        },
        ctl.signal,
      );
      if (res.status >= 400) {
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep text
        }
        throw apiErrorFrom(res.status, body, `watch ${r.plural}: HTTP ${res.status}`);
      }
      if (!res.body) return;
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        arm();
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR') throw apiErrorFrom(410, event.object, 'watch error event');
          onEvent(event);
        }
      }
    } catch (err) {
      if (idled) throw new WatchIdleError(`no watch event or bookmark for ${o.idleMs} ms`);
      if (outer?.aborted) return;
      throw err;
    } finally {
      clearTimeout(idle);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    await d?.destroy().catch(() => undefined);
  }

  private async send(method: HttpMethod, path: string, o: RequestOptions, signal: AbortSignal) {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(o.query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method);
    // Headers every time: a token file or exec plugin may have rotated.
    await this.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = {
      ...ctx.getHeaders(),
      Accept: o.accept ?? 'application/json',
      'User-Agent': this.opts.userAgent ?? 'kvring-operator',
    };
    let body: string | undefined;
    if (o.body !== undefined) {
      headers['Content-Type'] = o.contentType ?? 'application/json';
      body = JSON.stringify(o.body);
    }
    return fetch(url, { method, headers, body, signal, dispatcher: this.pooledDispatcher(ctx) });
  }

  /**
   * KubeConfig builds a new connection pool for every request; reuse one
   * for 10 minutes, then take a fresh one (rotated client certificates).
   */
  private pooledDispatcher(ctx: RequestContext): Dispatcher | undefined {
    const now = Date.now();
    if (!this.dispatcher || now - this.dispatcherAt > 600_000) {
      const old = this.dispatcher;
      this.dispatcher = ctx.getDispatcher();
      this.dispatcherAt = now;
      // Let requests in flight (long watches) finish on the old pool.
      void old?.close().catch(() => undefined);
    }
    return this.dispatcher;
  }
}
