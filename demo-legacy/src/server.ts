// A stand-in for the prototype's legacy service, for `make run`, the demo
// manifests and the tests. It answers the prototype's route
//
//   GET  /legacy/data/{key}   200 {"key","value"} | 404 {"error":"not found"}
//                             (503 {"error":"unavailable"} by failureRate;
//                              401 when started with a token and the request
//                              lacks `Authorization: Bearer <token>`)
//
// and test hooks, so a test can break it on purpose and count what reached it:
//
//   GET  /admin/config        {latencyMs, failureRate, hang}
//   POST /admin/config        any subset of {latencyMs, failureRate, hang}
//                             (hang: accept data requests and never answer)
//   GET  /admin/stats         {requests, byKey: {key: count}} of data requests
//   DELETE /admin/stats       zero the counts
//   POST /admin/data          {key, value}: add or replace a key
//   GET  /healthz             {"status":"ok","keys":n}
//
// The data set is described in data.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_SEED_KEYS, DemoData } from './data.js';

export interface DemoLegacyConfig {
  /** Delay before every data answer. */
  latencyMs: number;
  /** Share of data requests answered 503, 0..1. */
  failureRate: number;
  /** Accept data requests and never answer them. */
  hang: boolean;
}

export interface DemoLegacyOptions {
  host: string;
  /** 0 picks a free port (see the returned `port`). */
  port: number;
  /** N: seeds user:1..user:N and legacy:1..legacy:N (default 1000). */
  seed?: number;
  latencyMs?: number;
  failureRate?: number;
  hang?: boolean;
  /** When set, data requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  log?: Logger;
  /** Source of the failureRate draws (default Math.random). */
  random?: () => number;
}

export interface DemoLegacyStats {
  /** Data requests received, whatever their answer. */
  requests: number;
  byKey: Record<string, number>;
}

export interface DemoLegacyServer {
  readonly url: string;
  readonly port: number;
  stats(): DemoLegacyStats;
  resetStats(): void;
  config(): DemoLegacyConfig;
  /** Applies a partial config; throws RangeError on a bad value. */
  setConfig(patch: Partial<DemoLegacyConfig>): DemoLegacyConfig;
  addKey(key: string, value: unknown): void;
  /** Stops listening and drops every connection, hung requests included. */
  close(): Promise<void>;
}

const DATA_PREFIX = '/legacy/data/';
const MAX_ADMIN_BODY = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Validates a config patch from JSON; names the field at fault. */
export function parseConfigPatch(input: unknown): Partial<DemoLegacyConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RangeError('expected a JSON object {latencyMs?, failureRate?, hang?}');
  }
  const patch: Partial<DemoLegacyConfig> = {};
  for (const [field, value] of Object.entries(input)) {
    switch (field) {
      case 'latencyMs':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 3_600_000) {
          throw new RangeError(
            `latencyMs: expected a number of ms in 0..3600000, got ${JSON.stringify(value)}`,
          );
        }
        patch.latencyMs = value;
        break;
      case 'failureRate':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
          throw new RangeError(`failureRate: expected a number in 0..1, got ${JSON.stringify(value)}`);
        }
        patch.failureRate = value;
        break;
      case 'hang':
        if (typeof value !== 'boolean')
          throw new RangeError(`hang: expected a boolean, got ${JSON.stringify(value)}`);
        patch.hang = value;
        break;
      default:
        throw new RangeError(
          `unknown field ${JSON.stringify(field)}; expected latencyMs, failureRate or hang`,
        );
    }
  }
  return patch;
}

class DemoLegacy {
  readonly data: DemoData;
  readonly cfg: DemoLegacyConfig;
  requests = 0;
  readonly byKey = new Map<string, number>();
  private readonly expectedAuth: string | undefined;
  private readonly random: () => number;
  private readonly log: Logger | undefined;

  constructor(opts: DemoLegacyOptions) {
    this.data = new DemoData(opts.seed ?? DEFAULT_SEED_KEYS);
    this.cfg = { latencyMs: 0, failureRate: 0, hang: false };
    this.applyConfig(
      parseConfigPatch({
        latencyMs: opts.latencyMs ?? 0,
        failureRate: opts.failureRate ?? 0,
        hang: opts.hang ?? false,
      }),
    );
    this.expectedAuth = opts.token ? `Bearer ${opts.token}` : undefined;
    this.random = opts.random ?? Math.random;
    this.log = opts.log;
  }

  applyConfig(patch: Partial<DemoLegacyConfig>): DemoLegacyConfig {
    Object.assign(this.cfg, patch);
    return { ...this.cfg };
  }

  stats(): DemoLegacyStats {
    return { requests: this.requests, byKey: Object.fromEntries(this.byKey) };
  }

  resetStats(): void {
    this.requests = 0;
    this.byKey.clear();
  }

  // A method, not a closure per request: node:http calls it with `this`
  // bound once at start.
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path.startsWith(DATA_PREFIX)) {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJson(res, 405, { error: 'method not allowed' });
      return this.serveData(req, res, path.slice(DATA_PREFIX.length));
    }
    this.serveAdmin(req, res, path).catch((err: unknown) => {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      if (err instanceof RangeError) return sendJson(res, 400, { error: err.message });
      this.log?.error({ err }, 'demo legacy admin request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  };

  private serveData(req: http.IncomingMessage, res: http.ServerResponse, encoded: string): void {
    let key: string;
    try {
      key = decodeURIComponent(encoded);
    } catch {
      return sendJson(res, 400, { error: 'key is not valid percent-encoding' });
    }
    this.requests++;
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    if (this.expectedAuth !== undefined && req.headers.authorization !== this.expectedAuth) {
      return sendJson(res, 401, { error: 'unauthorized' });
    }
    if (this.cfg.hang) return; // the socket stays open until the client gives up or close()
    if (this.cfg.latencyMs > 0) {
      setTimeout(this.answerData, this.cfg.latencyMs, res, key);
    } else {
      this.answerData(res, key);
    }
  }

  private readonly answerData = (res: http.ServerResponse, key: string): void => {
    if (res.destroyed) return; // the client gave up while we waited
    if (this.cfg.failureRate > 0 && this.random() < this.cfg.failureRate) {
      return sendJson(res, 503, { error: 'unavailable' });
    }
    const value = this.data.get(key);
    if (value === undefined) return sendJson(res, 404, { error: 'not found' });
    sendJson(res, 200, { key, value });
  };

  private async serveAdmin(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /healthz':
        return sendJson(res, 200, { status: 'ok', keys: this.data.size });
      case 'GET /admin/stats':
        return sendJson(res, 200, this.stats());
      case 'DELETE /admin/stats':
        this.resetStats();
        return sendJson(res, 200, this.stats());
      case 'GET /admin/config':
        return sendJson(res, 200, this.cfg);
      case 'POST /admin/config': {
        const cfg = this.applyConfig(parseConfigPatch(await readJson(req)));
        this.log?.info({ config: cfg }, 'demo legacy config changed');
        return sendJson(res, 200, cfg);
      }
      case 'POST /admin/data': {
        const body = (await readJson(req)) as { key?: unknown; value?: unknown } | null;
        if (typeof body !== 'object' || body === null)
          throw new RangeError('expected a JSON object {key, value}');
        if (typeof body.key !== 'string' || body.key === '')
          throw new RangeError('key: expected a non-empty string');
        if (body.value === undefined || body.value === null)
          throw new RangeError('value: expected a JSON value');
        this.data.set(body.key, body.value);
        return sendJson(res, 200, { key: body.key, value: body.value });
      }
    }
    const known = ['/healthz', '/admin/stats', '/admin/config', '/admin/data'].includes(path);
    throw new HttpError(known ? 405 : 404, known ? 'method not allowed' : 'no route');
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_ADMIN_BODY) throw new HttpError(413, `body exceeds ${MAX_ADMIN_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, total).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

export async function startDemoLegacy(opts: DemoLegacyOptions): Promise<DemoLegacyServer> {
  const api = new DemoLegacy(opts);
  const server = http.createServer(api.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    stats: () => api.stats(),
    resetStats: () => api.resetStats(),
    config: () => ({ ...api.cfg }),
    setConfig: (patch) => api.applyConfig(parseConfigPatch(patch)),
    addKey: (key, value) => api.data.set(key, value),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive sockets and hung requests would hold close() open.
        server.closeAllConnections();
      })),
  };
}
