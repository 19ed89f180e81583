// The read-through client of the legacy REST API (ARCHITECTURE.md, read path
// step 5): GET {url}{pathTemplate with {key} URL-encoded} answers 200
// {"key","value"} or 404. Around the HTTP call:
//   - one request in flight per key (SingleFlight), so a stampede of misses
//     for one key costs one request;
//   - a short negative cache, so repeated misses of an absent key do not each
//     reach the API;
//   - a whole-request timeout and a circuit breaker, so a sick API costs
//     callers at most timeoutMs, and nothing at all while the breaker is open.
// Every failure is one LegacyUnavailableError with a stable code.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Logger } from 'pino';
import type { NodeMetrics } from '../metrics.js';
import {
  BREAKER_STATE_VALUE,
  CircuitBreaker,
  isBreakerOpen,
  type BreakerOptions,
  type BreakerState,
} from '../util/breaker.js';
import { SingleFlight } from '../util/singleflight.js';
import { inWorkSpan } from '../tracing/flights.js';
import { SpanKind, recordingSpan, tracingOn } from '../tracing/tracer.js';
import { LegacyUnavailableError } from './errors.js';
import { negativeCache, type NegativeCache } from './negative-cache.js';
import { DEFAULT_MAX_BODY_BYTES, decodeLegacyValue, readBodyText } from './response.js';

export type LegacyResult = { found: true; value: Buffer } | { found: false };

export interface LegacyClientOptions {
  /** Base URL (http or https); a path in it prefixes pathTemplate. */
  url: string;
  /** Path of one key; must contain `{key}` once, e.g. `/legacy/data/{key}`. */
  pathTemplate: string;
  /** Deadline of one request, connection and body included. */
  timeoutMs: number;
  /** Sent as `Authorization: Bearer <token>` when set and non-empty. */
  token?: string;
  /** How long a 404 is remembered; 0 turns the negative cache off. */
  negativeTtlMs: number;
  /** Bound of the negative cache (default 10,000 keys). */
  negativeMaxEntries?: number;
  /** Largest 200 body accepted (default 8 MiB). */
  maxBodyBytes?: number;
  /** Connections kept to the API (default 32), reused with keep-alive. */
  connections?: number;
  breaker?: BreakerOptions;
}

export interface LegacyClientDeps {
  log: Logger;
  metrics?: NodeMetrics;
  /**
   * Clock of the negative cache (ms); default performance.now. (The breaker
   * reads Date.now, cockatiel's clock.)
   */
  now?: () => number;
}

type RequestResult = 'found' | 'not_found' | 'error' | 'timeout';

const NOT_FOUND: LegacyResult = Object.freeze({ found: false });
const NOT_FOUND_PROMISE: Promise<LegacyResult> = Promise.resolve(NOT_FOUND);
const ignore = (): void => {};

export class LegacyClient {
  private readonly pool: Pool;
  private readonly origin: string;
  private readonly pathPrefix: string;
  private readonly pathSuffix: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly breaker: CircuitBreaker;
  /** Undefined when off (a TTL or a bound of 0). */
  private readonly negative: NegativeCache | undefined;
  private readonly flights = new SingleFlight<string, LegacyResult>();
  private readonly log: Logger;
  private readonly metrics: NodeMetrics | undefined;
  private lastCallOk = true;
  private closed = false;

  constructor(opts: LegacyClientOptions, deps: LegacyClientDeps) {
    const base = new URL(opts.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`legacy url must be http or https, got ${opts.url}`);
    }
    const template = opts.pathTemplate.startsWith('/') ? opts.pathTemplate : `/${opts.pathTemplate}`;
    const at = template.indexOf('{key}');
    if (at < 0 || template.indexOf('{key}', at + 1) >= 0) {
      throw new TypeError(`legacy pathTemplate must contain {key} exactly once, got ${opts.pathTemplate}`);
    }
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new RangeError(`legacy timeoutMs must be > 0, got ${opts.timeoutMs}`);
    }
    this.origin = base.origin;
    this.pathPrefix = base.pathname.replace(/\/+$/, '') + template.slice(0, at);
    this.pathSuffix = template.slice(at + '{key}'.length);
    this.headers = { accept: 'application/json' };
    if (opts.token) this.headers['authorization'] = `Bearer ${opts.token}`;
    this.timeoutMs = opts.timeoutMs;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.log = deps.log.child({ component: 'legacy' });
    this.metrics = deps.metrics;
    this.negative = negativeCache(opts.negativeTtlMs, opts.negativeMaxEntries, deps.now);
    this.breaker = new CircuitBreaker(opts.breaker, (state, previous) =>
      this.onBreakerChange(state, previous),
    );
    this.metrics?.legacyBreakerState.set(BREAKER_STATE_VALUE.closed);
    this.pool = new Pool(this.origin, { connections: opts.connections ?? 32, pipelining: 1 });
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /** False while the breaker is open or when the last request failed. */
  get reachable(): boolean {
    return this.lastCallOk && this.breaker.state !== 'open';
  }

  /** Keys whose 404 is currently remembered. */
  get negativeCacheSize(): number {
    return this.negative?.size ?? 0;
  }

  /**
   * The legacy API's value for `key`. Concurrent calls for one key share one
   * request. Throws LegacyUnavailableError when the API cannot answer.
   */
  fetch(key: string): Promise<LegacyResult> {
    if (this.closed) {
      return Promise.reject(new LegacyUnavailableError('LEGACY_UNREACHABLE', 'legacy client is closed'));
    }
    if (this.negative?.has(key) === true) return NOT_FOUND_PROMISE;
    return this.flights.do(key, this.request);
  }

  /** Ends the connection pool once requests in flight have finished. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  // One function for every flight: the HTTP call through the breaker, and
  // the bookkeeping of its outcome.
  private readonly request = async (key: string): Promise<LegacyResult> => {
    let started = 0;
    let result: LegacyResult;
    try {
      result = await this.breaker.execute(() => {
        started = performance.now();
        return tracingOn() ? this.sendTraced(key) : this.send(key);
      });
    } catch (err) {
      if (isBreakerOpen(err)) {
        this.metrics?.legacyRequests.inc({ result: 'rejected' });
        throw new LegacyUnavailableError(
          'LEGACY_BREAKER_OPEN',
          `legacy API circuit breaker is open after ${this.breaker.failureThreshold} consecutive failures; ` +
            `next attempt within ${this.breaker.openMs} ms`,
        );
      }
      const failure = this.toLegacyError(err);
      this.observe(started, failure.failure === 'LEGACY_TIMEOUT' ? 'timeout' : 'error');
      if (this.lastCallOk) {
        this.lastCallOk = false;
        this.log.warn({ failure: failure.failure, err: failure.message }, 'legacy API request failed');
      } else {
        this.log.debug({ failure: failure.failure, err: failure.message }, 'legacy API request failed');
      }
      throw failure;
    }
    this.observe(started, result.found ? 'found' : 'not_found');
    if (!this.lastCallOk) {
      this.lastCallOk = true;
      this.log.info('legacy API answering again');
    }
    if (!result.found) this.negative?.set(key, true);
    return result;
  };

  /** `send` in a client span, noted as the work of the read-through flight it serves (tracing/flights.ts). */
  private sendTraced(key: string): Promise<LegacyResult> {
    const attributes = {
      'http.request.method': 'GET',
      'url.full': this.origin + this.pathOf(key),
      'server.address': this.origin,
      'kvring.key': key,
    };
    return inWorkSpan('legacy GET', SpanKind.CLIENT, attributes, () => this.send(key));
  }

  private pathOf(key: string): string {
    return this.pathPrefix + encodeURIComponent(key) + this.pathSuffix;
  }

  private async send(key: string): Promise<LegacyResult> {
    const res = await this.pool.request({
      path: this.pathOf(key),
      method: 'GET',
      headers: this.headers,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    recordingSpan()?.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode === 200) {
      return { found: true, value: decodeLegacyValue(await readBodyText(res.body, this.maxBodyBytes)) };
    }
    // Drain the body so the connection goes back to the pool; a failure to
    // drain only costs that connection.
    await res.body.dump().catch(ignore);
    if (res.statusCode === 404) return NOT_FOUND;
    throw new LegacyUnavailableError(
      `LEGACY_HTTP_${res.statusCode}`,
      `legacy API answered HTTP ${res.statusCode} for a read`,
    );
  }

  private toLegacyError(err: unknown): LegacyUnavailableError {
    if (err instanceof LegacyUnavailableError) return err;
    const { name, code, message } = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
    // The only abort is our own AbortSignal.timeout; undici's own timers
    // (headers, body) are longer but mean the same.
    if (
      name === 'TimeoutError' ||
      name === 'AbortError' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT'
    ) {
      return new LegacyUnavailableError(
        'LEGACY_TIMEOUT',
        `legacy API at ${this.origin} did not answer within ${this.timeoutMs} ms`,
        { cause: err },
      );
    }
    if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
      return new LegacyUnavailableError(
        'LEGACY_BAD_RESPONSE',
        `legacy API sent a broken body: ${String(message)}`,
        {
          cause: err,
        },
      );
    }
    return new LegacyUnavailableError(
      'LEGACY_UNREACHABLE',
      `legacy API at ${this.origin} is unreachable: ${typeof message === 'string' ? message : String(err)}`,
      { cause: err },
    );
  }

  private observe(started: number, result: RequestResult): void {
    if (this.metrics === undefined) return;
    this.metrics.legacyRequests.inc({ result });
    this.metrics.legacyDuration.observe((performance.now() - started) / 1000);
  }

  private onBreakerChange(state: BreakerState, previous: BreakerState): void {
    this.metrics?.legacyBreakerState.set(BREAKER_STATE_VALUE[state]);
    if (state === 'open') {
      this.log.warn(
        { previous, openMs: this.breaker.openMs, failures: this.breaker.consecutiveFailures },
        'legacy API circuit breaker opened: read-through of missing keys fails fast',
      );
    } else {
      this.log.info({ previous }, `legacy API circuit breaker ${state}`);
    }
  }
}
