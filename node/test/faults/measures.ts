// Measurements that are figures rather than checks: availability of GET and
// SET as a user's client sees it (the library's retry on another node
// included) while a node is down, and legacy calls under a herd of misses.
import { KvClient } from '@kvring/client';
import type { FaultEnv } from './env.js';
import { sleep } from './faults.js';

export interface Availability {
  readonly gets: number;
  readonly getsOk: number;
  readonly sets: number;
  readonly setsOk: number;
}

/**
 * Runs `loops` GET loops and `loops` SET loops through one client that
 * knows every node, on keys avail:0..keys-1 (written once first), until
 * `until` (performance.now()).
 */
export async function measureAvailability(
  env: FaultEnv,
  until: number,
  opts: { loops?: number; keys?: number } = {},
): Promise<Availability> {
  const loops = opts.loops ?? 3;
  const keys = opts.keys ?? 50;
  const client = new KvClient(
    env.nodes.map((n) => n.clientAddress),
    { timeoutMs: 2_000 },
  );
  const a = { gets: 0, getsOk: 0, sets: 0, setsOk: 0 };
  try {
    let seq = 0;
    const getter = async (): Promise<void> => {
      while (performance.now() < until) {
        a.gets++;
        try {
          await client.get(`avail:${seq++ % keys}`);
          a.getsOk++;
        } catch {
          // counted as unavailable
        }
      }
    };
    const setter = async (l: number): Promise<void> => {
      for (let i = 0; performance.now() < until; i++) {
        a.sets++;
        try {
          await client.set(`avail:${(l * 7 + i) % keys}`, `a${l}-${i}`);
          a.setsOk++;
        } catch {
          // counted as unavailable
        }
      }
    };
    await Promise.all([
      ...Array.from({ length: loops }, () => getter()),
      ...Array.from({ length: loops }, (_, l) => setter(l)),
    ]);
  } finally {
    client.close();
  }
  return a;
}

export function percent(ok: number, total: number): string {
  return total === 0 ? 'n/a' : `${((100 * ok) / total).toFixed(2)}% of ${total}`;
}

export interface Herd {
  readonly requests: number;
  readonly found: number;
  readonly legacyCalls: number;
}

/**
 * `requests` concurrent GETs of one key nobody has read yet, spread over
 * every node; returns how many reached the legacy API.
 */
export async function herd(
  env: FaultEnv,
  key: string,
  requests: number,
  legacyLatencyMs: number,
): Promise<Herd> {
  const clients = env.nodes.map((n) => new KvClient(n.clientAddress, { timeoutMs: 15_000 }));
  try {
    await env.legacy.setConfig({ latencyMs: legacyLatencyMs });
    await env.legacy.resetStats();
    const results = await Promise.allSettled(
      Array.from({ length: requests }, (_, i) => clients[i % clients.length]!.get(key)),
    );
    await sleep(100);
    const stats = await env.legacy.stats();
    return {
      requests,
      found: results.filter((r) => r.status === 'fulfilled' && r.value.found).length,
      legacyCalls: stats.byKey[key] ?? 0,
    };
  } finally {
    await env.legacy.setConfig({ latencyMs: 0 });
    for (const c of clients) c.close();
  }
}

/** user:777, the key the legacy scenario's herd reads afterwards. */
const HERD_KEY_N = 777;

/**
 * After the legacy API heals, a node whose circuit breaker opened keeps
 * failing read-through until the breaker lets a trial request through.
 * Returns ms until `streak` reads in a row of keys nobody read yet (each
 * routed to its own primary) came back found, or null past `boundMs`. The
 * streak is long enough that every node is some key's primary in it (with 3
 * nodes, 30 keys miss one with odds of about 3 * (2/3)^30, 1 in 60,000):
 * a short one could pass while one node's breaker is still open, and the
 * reads that follow would fail fast there.
 */
export async function waitReadThrough(env: FaultEnv, boundMs: number, streak = 30): Promise<number | null> {
  const clients = env.nodes.map((n) => new KvClient(n.clientAddress, { timeoutMs: 3_000 }));
  const t0 = performance.now();
  try {
    let ok = 0;
    for (let n = 401; ok < streak && n <= 1000 && performance.now() - t0 < boundMs; n++) {
      if (n === HERD_KEY_N) continue; // the herd measured afterwards needs it uncached
      try {
        const r = await clients[n % clients.length]!.get(`user:${n}`);
        ok = r.found ? ok + 1 : 0;
      } catch {
        ok = 0;
        await sleep(250);
      }
    }
    return ok >= streak ? Math.round(performance.now() - t0) : null;
  } finally {
    for (const c of clients) c.close();
  }
}
