// The informer against a scripted HTTP API server (real sockets, real
// client): watches that go quiet, expire (410) or fail are restarted, the
// cache stays correct, and nothing exits.
import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually } from '@kvring/control-plane';
import type { KubeObject } from '../../src/api/types.js';
import { realClock } from '../../src/clock.js';
import { KubeClient } from '../../src/kube/client.js';
import { Informer } from '../../src/kube/informer.js';
import { RESOURCES } from '../../src/kube/resources.js';

type WatchScript = (res: ServerResponse, rv: string) => void;

/** A fake API server for ConfigMaps: lists from `items`, watches run the next script. */
class FakeApi {
  items: KubeObject[] = [];
  listRv = '10';
  lists = 0;
  watchRvs: string[] = [];
  scripts: WatchScript[] = [];
  private server: Server | undefined;
  private open: ServerResponse[] = [];

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/api/v1/configmaps') return void res.writeHead(404).end();
      if (url.searchParams.get('watch') !== 'true') {
        this.lists++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(
          JSON.stringify({
            kind: 'ConfigMapList',
            metadata: { resourceVersion: this.listRv },
            items: this.items,
          }),
        );
      }
      const rv = url.searchParams.get('resourceVersion') ?? '';
      this.watchRvs.push(rv);
      const script = this.scripts.shift() ?? ((r) => r.writeHead(200)); // default: stay open, silent
      this.open.push(res);
      script(res, rv);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const r of this.open) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

function cm(name: string, rv: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } };
}

function event(res: ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

function client(server: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new KubeClient(kc);
}

let api: FakeApi;
let informer: Informer<KubeObject> | undefined;

afterEach(async () => {
  await informer?.stop();
  await api?.stop();
});

function start(): { adds: string[]; updates: string[]; deletes: string[] } {
  const seen = { adds: [] as string[], updates: [] as string[], deletes: [] as string[] };
  informer!.on({
    onAdd: (o) => seen.adds.push(o.metadata!.name!),
    onUpdate: (_old, o) => seen.updates.push(`${o.metadata!.name}@${o.metadata!.resourceVersion}`),
    onDelete: (o) => seen.deletes.push(o.metadata!.name!),
  });
  informer!.start();
  return seen;
}

describe('Informer', () => {
  it('restarts a watch that went quiet from the last resourceVersion, without relisting', async () => {
    api = new FakeApi();
    api.items = [cm('a', '10')];
    api.scripts.push((res) => {
      res.writeHead(200);
      event(res, 'MODIFIED', cm('a', '11'));
      // ...and then nothing: a half-open connection looks like this.
    });
    const restarts: string[] = [];
    informer = new Informer(client(await api.start()), RESOURCES.configMap, {
      clock: realClock,
      idleMs: 400,
      onRestart: (r) => restarts.push(r),
    });
    const seen = start();
    await eventually(() => (api.watchRvs.length >= 2 ? true : undefined), { what: 'a second watch' });
    expect(api.watchRvs.slice(0, 2)).toEqual(['10', '11']);
    expect(api.lists).toBe(1);
    expect(restarts[0]).toBe('idle');
    expect(seen).toEqual({ adds: ['a'], updates: ['a@11'], deletes: [] });
    expect(informer.synced()).toBe(true);
  });

  it('relists after 410 Gone and reports what changed meanwhile as adds, updates and deletes', async () => {
    api = new FakeApi();
    api.items = [cm('a', '10'), cm('b', '10')];
    let held: ServerResponse | undefined;
    api.scripts.push((res) => {
      res.writeHead(200);
      held = res;
    });
    const restarts: string[] = [];
    informer = new Informer(client(await api.start()), RESOURCES.configMap, {
      clock: realClock,
      onRestart: (r) => restarts.push(r),
    });
    const seen = start();
    await eventually(() => (held ? true : undefined), { what: 'list + watch' });
    // Events were lost (b deleted, a changed, c created) and the watch's resourceVersion expired.
    api.items = [cm('a', '20'), cm('c', '20')];
    api.listRv = '20';
    event(held!, 'ERROR', {
      kind: 'Status',
      code: 410,
      reason: 'Expired',
      message: 'too old resource version',
    });
    held!.end();
    await eventually(() => (api.lists >= 2 && api.watchRvs.includes('20') ? true : undefined), {
      what: 'a relist',
    });
    expect(restarts).toContain('gone');
    expect(seen.deletes).toEqual(['b']);
    expect(seen.adds).toEqual(['a', 'b', 'c']);
    expect(seen.updates).toEqual(['a@20']);
    expect(
      informer
        .list()
        .map((o) => o.metadata!.name)
        .sort(),
    ).toEqual(['a', 'c']);
  });

  it('keeps retrying with backoff while the API server fails, and recovers', async () => {
    api = new FakeApi();
    api.items = [cm('a', '10')];
    const fail: WatchScript = (res) =>
      res
        .writeHead(500, { 'Content-Type': 'application/json' })
        .end('{"kind":"Status","code":500,"message":"etcd is down"}');
    api.scripts.push(fail, fail, (res) => {
      res.writeHead(200);
      event(res, 'ADDED', cm('b', '12'));
    });
    const restarts: string[] = [];
    informer = new Informer(client(await api.start()), RESOURCES.configMap, {
      clock: realClock,
      onRestart: (r) => restarts.push(r),
    });
    start();
    await eventually(() => (informer!.get('ns', 'b') ? true : undefined), {
      what: 'recovery',
      timeoutMs: 10_000,
    });
    expect(restarts.filter((r) => r === 'error')).toHaveLength(2);
    // The cache kept serving what it had throughout.
    expect(informer.get('ns', 'a')?.metadata?.resourceVersion).toBe('10');
  });

  it('resumes a watch the server closed normally', async () => {
    api = new FakeApi();
    api.scripts.push((res) => {
      res.writeHead(200);
      event(res, 'ADDED', cm('x', '11'));
      event(res, 'BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '15' } });
      res.end();
    });
    const restarts: string[] = [];
    informer = new Informer(client(await api.start()), RESOURCES.configMap, {
      clock: realClock,
      onRestart: (r) => restarts.push(r),
    });
    start();
    await eventually(() => (api.watchRvs.length >= 2 ? true : undefined), { what: 'a resumed watch' });
    // The bookmark moved the resume point past the last event.
    expect(api.watchRvs.slice(0, 2)).toEqual(['10', '15']);
    expect(restarts[0]).toBe('closed');
    expect(api.lists).toBe(1);
  });
});
