// Warm restarts (cluster/warmup.ts) with three real nodes and a real
// PostgreSQL: a killed node comes back, loads the keys its peers report hot
// from PostgreSQL before /readyz says ready, and
// (a) never serves, nor holds, a version older than one acknowledged before
//     it started, even when a peer holds a stale copy (it missed a write and
//     its hint was dropped) and keys are overwritten while it warms up;
// (b) under a steady skewed load, its memory hit ratio within 10 s of Ready
//     is close to what it was before the kill (printed, with the same
//     restart without a warm-up beside it; a loose floor asserted);
// (c) stops at its byte bound.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { KvClient } from '@kvring/client';
import { Ring } from '@kvring/client/ring';
import { LocalNode } from '@kvring/devcluster/local-cluster';
import { seededRandom } from '@kvring/test-support/prng';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;
/** Nodes started with settings of their own (stopped in afterAll). */
const replacements: LocalNode[] = [];

beforeAll(async () => {
  env = await startTestEnv({
    env: {
      // A peer that misses a write stays stale: no hint is kept for it and
      // anti-entropy does not run during the test.
      KVRING_HINTS_MAX_BYTES: '0',
      KVRING_ANTI_ENTROPY_INTERVAL: '1h',
    },
  });
}, 120_000);

afterAll(async () => {
  for (const n of replacements) await n.stop();
  await env?.stop();
}, 60_000);

/** The versions `node` holds for `keys` (its peer port's Digest). */
async function digest(node: LocalNode, keys: readonly string[]): Promise<Map<string, number>> {
  const client = new PeerServiceClient(`${node.host}:50052`, credentials.createInsecure());
  try {
    const res = await new Promise<DigestResponse>((resolve, reject) =>
      client.digest({ keys: [...keys] }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return new Map(res.entries.map((e) => [e.key, e.version]));
  } finally {
    client.close();
  }
}

/** A counter or gauge from the node's /metrics, summed over the series whose labels include `match`. */
async function metric(node: LocalNode, name: string, match = ''): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(match))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function memoryReads(node: LocalNode): Promise<{ hit: number; miss: number }> {
  return {
    hit: await metric(node, 'kvring_memory_reads_total', 'result="hit"'),
    miss: await metric(node, 'kvring_memory_reads_total', 'result="miss"'),
  };
}

const ratio = (a: { hit: number; miss: number }, b: { hit: number; miss: number }): number =>
  (b.hit - a.hit) / Math.max(1, b.hit - a.hit + b.miss - a.miss);

/** The same member, started again with extra settings; the original must be stopped. */
function withSettings(node: LocalNode, extra: Record<string, string>): LocalNode {
  const n = new LocalNode(
    node.name,
    node.host,
    { ...node.spec.env, ...extra },
    join(env.cluster.logDir, `${node.name}.log`),
    false,
  );
  replacements.push(n);
  return n;
}

/** Waits until `observer` reports `member` down (its failure detector), bounded. */
async function seesDown(observer: LocalNode, member: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = (await (await fetch(`${observer.httpUrl}/status`)).json()) as {
      members: Array<{ name: string; state: number }>;
    };
    if (st.members.some((m) => m.name === member && m.state === 2)) return;
    await sleep(50);
  }
  throw new Error(`${observer.name} never saw ${member} down`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('warm restart', () => {
  it('never reads nor holds a version older than one acknowledged, with a stale peer and overwrites during the warm-up', async () => {
    const [a, b, c] = env.cluster.nodes as [LocalNode, LocalNode, LocalNode];
    const [viaA, viaB, viaC] = env.clients as [KvClient, KvClient, KvClient];
    // Keys whose read set on c is {c, b}: b comes before a in their preference list.
    const ring = new Ring(
      env.cluster.nodes.map((n) => n.name),
      { vnodes: 512 },
    );
    const stale: string[] = [];
    for (let i = 0; stale.length < 60; i++) {
      const prefs = ring.preferenceList(`stale:${i}`, 3);
      if (prefs.indexOf(b.name) < prefs.indexOf(a.name)) stale.push(`stale:${i}`);
    }
    const overwritten = Array.from({ length: 200 }, (_, i) => `ow:${i}`);
    const all = [...stale, ...overwritten];
    const acked = new Map<string, number>();
    for (const k of all) acked.set(k, await viaA.set(k, `v1-${k}`));
    // Every replica applies a write (W=2 acknowledges it): wait until b holds them all.
    for (let i = 0; i < 100 && (await digest(b, stale)).size < stale.length; i++) await sleep(50);

    // b misses the second write of the stale keys: paused, and down in a's
    // view, so a sends it nothing and drops its hints (no room for any).
    b.signal('SIGSTOP');
    try {
      await seesDown(a, b.name);
      for (const k of stale) acked.set(k, await viaA.set(k, `v2-${k}`));
    } finally {
      b.signal('SIGCONT');
    }
    await env.cluster.waitConverged();
    const onB = await digest(b, stale);
    const staleOnB = stale.filter((k) => (onB.get(k) ?? 0) < acked.get(k)!);
    expect(staleOnB).toHaveLength(stale.length); // the premise: b holds the older version of each

    // c is killed and comes back; keys are overwritten until it is ready.
    await c.kill();
    const beforeStart = new Map(acked);
    let ready = false;
    let during = 0;
    const overwriter = (async () => {
      for (let i = 0; !ready; i++) {
        const k = overwritten[i % overwritten.length]!;
        try {
          acked.set(k, await (i % 2 === 0 ? viaA : viaB).set(k, `v3-${i}`));
          during++;
        } catch {
          // A write that failed was not acknowledged: nothing to check.
        }
      }
    })();
    try {
      await c.startReady();
    } finally {
      ready = true;
      await overwriter;
    }
    const warmed = await metric(c, 'kvring_warmup_keys');
    const onC = await digest(c, all);
    console.log(
      `warm restart of ${c.name}: ${warmed} keys warmed from PostgreSQL, ${during} overwrites acknowledged ` +
        `between its start and Ready; ${staleOnB.length} keys stale on ${b.name}`,
    );
    expect(warmed).toBeGreaterThan(0);

    // What c holds: nothing, or at least what was acknowledged before it started.
    const olderOnC = all.filter((k) => onC.has(k) && onC.get(k)! < beforeStart.get(k)!);
    expect(stale.filter((k) => onC.has(k)).length).toBeGreaterThan(0);

    // What every coordinator serves: at least the last acknowledged version.
    const older: string[] = [];
    for (const [name, client] of [
      [c.name, viaC],
      [a.name, viaA],
      [b.name, viaB],
    ] as const)
      for (let i = 0; i < all.length; i += 20)
        await Promise.all(
          all.slice(i, i + 20).map(async (k) => {
            const r = await client.get(k);
            if (r.version < acked.get(k)!)
              older.push(`${k} via ${name}: read v${r.version} after v${acked.get(k)}`);
          }),
        );
    console.log(
      `held older on ${c.name}: ${olderOnC.length} keys; reads older than acknowledged: ${older.length}`,
    );
    expect({ olderOnC, older: older.slice(0, 10) }).toEqual({ olderOnC: [], older: [] });
  }, 240_000);

  it('regains its memory hit ratio under a steady skewed load (printed: before, within 10 s of Ready, and without a warm-up)', async () => {
    const victim = env.cluster.nodes[2]!;
    const keyCount = 4000;
    const keys = Array.from({ length: keyCount }, (_, i) => `load:${i}`);
    const seedClient = new KvClient(env.cluster.clientAddresses, { timeoutMs: 5000 });
    const value = Buffer.alloc(200, 7);
    for (let i = 0; i < keys.length; i += 100)
      await Promise.all(keys.slice(i, i + 100).map((k) => seedClient.set(k, value)));
    seedClient.close();

    // Zipf-like skew (rank^-1): the hottest keys take most reads; 95% reads, 5% writes.
    const weights = keys.map((_, i) => 1 / (i + 1));
    const total = weights.reduce((s, w) => s + w, 0);
    const cdf: number[] = [];
    weights.reduce((s, w, i) => (cdf[i] = s + w / total), 0);
    const pick = (r: number): string => {
      let lo = 0;
      let hi = cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid]! < r) lo = mid + 1;
        else hi = mid;
      }
      return keys[lo]!;
    };
    let running = true;
    const errors = { n: 0 };
    const workers = env.cluster.nodes.map(async (_, w) => {
      const client = new KvClient(env.cluster.clientAddresses, { timeoutMs: 5000, downBackoffMs: 200 });
      const rnd = seededRandom(100 + w);
      try {
        while (running) {
          const k = pick(rnd());
          try {
            if (rnd() < 0.05) await client.set(k, value);
            else await client.get(k);
          } catch {
            errors.n++;
          }
        }
      } finally {
        client.close();
      }
    });

    const WINDOW_MS = 10_000;
    /** The memory hit ratio of `node` over the next 10 s. */
    const window = async (node: LocalNode): Promise<number> => {
      const t0 = await memoryReads(node);
      await sleep(WINDOW_MS);
      return ratio(t0, await memoryReads(node));
    };
    /** Ratio of `node` before, then of `next` (the same member) within 10 s of Ready after a kill. */
    const restart = async (
      node: LocalNode,
      next: LocalNode,
      label: string,
    ): Promise<{ before: number; after: number }> => {
      const before = await window(node);
      await node.kill();
      await next.startReady();
      const after = await window(next);
      const warmed = await metric(next, 'kvring_warmup_keys');
      const secs = await metric(next, 'kvring_warmup_duration_seconds');
      console.log(
        `${label}: ${node.name} memory hit ratio ${(before * 100).toFixed(1)}% before the kill, ` +
          `${(after * 100).toFixed(1)}% in the 10 s after Ready (${((after / before) * 100).toFixed(1)}% of before; ` +
          `warm-up ${warmed} keys in ${secs.toFixed(2)} s)`,
      );
      return { before, after };
    };
    try {
      const warm = await restart(victim, victim, 'with warm-up');
      const cold = withSettings(victim, { KVRING_WARMUP_MAX_BYTES: '0' });
      const none = await restart(victim, cold, 'without warm-up');
      await cold.kill();
      await victim.startReady();
      console.log(
        `hit ratio within 10 s of Ready as a share of before: ${((warm.after / warm.before) * 100).toFixed(1)}% ` +
          `with the warm-up, ${((none.after / none.before) * 100).toFixed(1)}% without; ${errors.n} client errors`,
      );
      // Loose floor (the ≥ 90% target is the printed figure).
      expect(warm.after).toBeGreaterThanOrEqual(0.75 * warm.before);
    } finally {
      running = false;
      await Promise.all(workers);
    }
  }, 240_000);

  it('stops at its byte bound', async () => {
    const victim = env.cluster.nodes[2]!;
    const bound = 256 * 1024;
    // More than the bound, whatever ran before.
    const filler = Buffer.alloc(400, 1);
    for (let i = 0; i < 1500; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => env.clients[0]!.set(`bound:${i + j}`, filler)));
    const small = withSettings(victim, { KVRING_WARMUP_MAX_BYTES: String(bound) });
    await victim.kill();
    try {
      await small.startReady();
      const bytes = await metric(small, 'kvring_warmup_bytes');
      const keys = await metric(small, 'kvring_warmup_keys');
      console.log(`byte bound ${bound}: warm-up installed ${keys} keys, ${bytes} bytes`);
      expect(await metric(small, 'kvring_warmup_stopped', 'reason="bytes"')).toBe(1);
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(bound);
    } finally {
      await small.kill();
      await victim.startReady();
    }
  }, 120_000);
});
