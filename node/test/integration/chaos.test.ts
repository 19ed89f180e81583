// Chaos: writers and readers run for a bounded time while a random node is
// SIGKILLed and restarted every few seconds. Every acknowledged write must
// survive (in PostgreSQL and through the client API), no read may return a
// version older than one acknowledged before the read started, and after
// the faults stop every replica converges to PostgreSQL.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { credentials } from '@grpc/grpc-js';
import { KvClient } from '@kvring/client';
import { PeerServiceClient, type DigestResponse } from '../../src/gen/kvring/v1/peer.js';
import { FAST_REPAIR_ENV, startTestEnv, type TestEnv } from '../support/cluster.js';

const DURATION_MS = Number(process.env.KVRING_CHAOS_MS ?? 20_000);
const KILL_EVERY_MS = 3_000;
const KEYS = 150;
const WRITERS = 6;
const READERS = 4;

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({
    env: { ...FAST_REPAIR_ENV },
  });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

interface Ack {
  version: number;
  value: string;
  at: number;
}

function digest(address: string): Promise<DigestResponse> {
  const c = new PeerServiceClient(address, credentials.createInsecure());
  return new Promise<DigestResponse>((resolve, reject) =>
    c.digest({ keys: [] }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

it(
  'loses no acknowledged write and serves no stale read while nodes are killed',
  async () => {
    const acks = new Map<string, Ack[]>();
    const counts = { writesOk: 0, writesFailed: 0, readsOk: 0, readsFailed: 0, stale: 0, kills: 0 };
    const staleExamples: string[] = [];
    const start = performance.now();
    const until = start + DURATION_MS;
    const now = (): number => performance.now();
    const client = (): KvClient => new KvClient(env.cluster.clientAddresses, { timeoutMs: 5_000 });

    const writer = async (w: number): Promise<void> => {
      const c = client();
      for (let seq = 0; now() < until; seq++) {
        const key = `chaos:${(w * 7919 + seq * 31) % KEYS}`;
        const value = `w${w}-${seq}`;
        try {
          const version = await c.set(key, value);
          const list = acks.get(key) ?? [];
          list.push({ version, value, at: now() });
          acks.set(key, list);
          counts.writesOk++;
        } catch {
          counts.writesFailed++; // in doubt: may or may not have committed
        }
      }
      c.close();
    };

    const reader = async (r: number): Promise<void> => {
      const c = client();
      for (let seq = 0; now() < until; seq++) {
        const key = `chaos:${(r * 104729 + seq * 17) % KEYS}`;
        const startedAt = now();
        // The newest version acknowledged before this read started.
        let floor = 0;
        for (const a of acks.get(key) ?? []) if (a.at < startedAt && a.version > floor) floor = a.version;
        try {
          const res = await c.get(key);
          counts.readsOk++;
          const got = res.found ? res.version : 0;
          if (got < floor) {
            counts.stale++;
            if (staleExamples.length < 5)
              staleExamples.push(`${key}: read v${got} after v${floor} was acknowledged`);
          }
        } catch {
          counts.readsFailed++;
        }
      }
      c.close();
    };

    const killer = async (): Promise<void> => {
      while (now() + KILL_EVERY_MS < until) {
        await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
        const victim = env.cluster.nodes[Math.floor(Math.random() * env.cluster.nodes.length)]!;
        await victim.kill();
        counts.kills++;
        await new Promise((r) => setTimeout(r, 500));
        await victim.startReady();
      }
    };

    await Promise.all([
      ...Array.from({ length: WRITERS }, (_, i) => writer(i)),
      ...Array.from({ length: READERS }, (_, i) => reader(i)),
      killer(),
    ]);

    // Faults over: every node up, then check against PostgreSQL.
    for (const n of env.cluster.nodes) if (!n.running) await n.startReady();
    await env.cluster.waitConverged();

    const rows = await env.sql<{ key: string; value: Buffer; version: string }>(
      "select key, value, version from kv_store where key like 'chaos:%'",
    );
    const pgRows = new Map(
      rows.map((r) => [r.key, { value: r.value.toString(), version: Number(r.version) }]),
    );
    let lost = 0;
    const lostExamples: string[] = [];
    const verify = client();
    for (const [key, list] of acks) {
      const last = list.reduce((a, b) => (b.version > a.version ? b : a));
      const row = pgRows.get(key);
      const read = await verify.get(key);
      // Lost: PostgreSQL or a read no longer has the newest acknowledged
      // version (a later in-doubt write may have superseded it: higher version).
      if (!row || row.version < last.version || !read.found || read.version < last.version) {
        lost++;
        if (lostExamples.length < 5) lostExamples.push(`${key}: acked v${last.version}, pg v${row?.version}`);
      }
      if (row && row.version === last.version) expect(row.value).toBe(last.value);
    }
    verify.close();

    // Convergence: no replica holds an older version than PostgreSQL
    // (anti-entropy runs every second; bounded wait).
    let divergent = Infinity;
    const convergeStart = now();
    while (divergent > 0 && now() - convergeStart < 15_000) {
      divergent = 0;
      for (const n of env.cluster.nodes) {
        const d = await digest(`${n.host}:50052`);
        for (const e of d.entries) {
          const row = pgRows.get(e.key);
          if (row && e.version < row.version) divergent++;
        }
      }
      if (divergent > 0) await new Promise((r) => setTimeout(r, 500));
    }
    const convergeMs = Math.round(now() - convergeStart);

    console.log(
      `chaos: ${Math.round(DURATION_MS / 1000)} s, ${counts.kills} kills; writes ok ${counts.writesOk}, ` +
        `failed/in doubt ${counts.writesFailed}; reads ok ${counts.readsOk}, failed ${counts.readsFailed}; ` +
        `lost ${lost}, stale ${counts.stale}; divergent replicas after heal ${divergent} (converged in ${convergeMs} ms)`,
    );
    expect(counts.kills).toBeGreaterThan(0);
    // Enough operations that the checks below saw reads and writes around
    // the kills; not a speed target (a machine at load average 30 managed
    // 124 writes and 62 reads in 20 s, an idle one several thousand).
    expect(counts.writesOk).toBeGreaterThan(30);
    expect(counts.readsOk).toBeGreaterThan(30);
    expect(lostExamples).toEqual([]);
    expect(lost).toBe(0);
    expect(staleExamples).toEqual([]);
    expect(counts.stale).toBe(0);
    expect(divergent).toBe(0);
  },
  DURATION_MS + 120_000,
);
