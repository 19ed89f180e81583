// SIGTERM under load: a node told to stop while a client connected to every
// node keeps writing exits by itself with code 0 within
// KVRING_SHUTDOWN_TIMEOUT, and no write acknowledged before, during or after
// its shutdown is lost: each is in PostgreSQL and reads back through the
// nodes that remain; and none fails (issue 15.2: a planned stop fails no
// operation). Three real nodes, a real PostgreSQL and the demo legacy API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KvClient, KvClientError } from '@kvring/client';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

const SHUTDOWN_TIMEOUT_MS = 10_000;
const WRITERS = 8;
/** Bound on each writer's loop, whatever happens to the clock. */
const MAX_WRITES_PER_WRITER = 20_000;

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({ env: { KVRING_SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms` } });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

type Phase = 'before' | 'during' | 'after';

interface Ack {
  readonly key: string;
  readonly value: string;
  readonly version: number;
  readonly phase: Phase;
}

describe('SIGTERM', () => {
  it('drains a node under write load: exit code 0 in time, every acknowledged write kept', async () => {
    const victim = env.cluster.nodes[1]!;
    const others = env.cluster.nodes.filter((n) => n !== victim);
    const client = new KvClient(env.cluster.clientAddresses, { timeoutMs: 15_000 });

    let phase: Phase = 'before';
    let stop = false;
    const acked: Ack[] = [];
    const failures = new Map<string, number>();
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; i < MAX_WRITES_PER_WRITER && !stop; i++) {
        const key = `sd:${w}:${i}`;
        const value = `v-${w}-${i}`;
        const at = phase;
        try {
          const version = await client.set(key, value);
          acked.push({ key, value, version, phase: at });
        } catch (err) {
          const what = err instanceof KvClientError ? `code ${err.code}: ${err.details}` : String(err);
          failures.set(what, (failures.get(what) ?? 0) + 1);
        }
      }
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    let exitCode: number | null | undefined;
    let exitMs: number | undefined;
    try {
      await sleep(1500);
      phase = 'during';
      const t0 = performance.now();
      // Child.stop sends SIGTERM and would SIGKILL only well past the node's own timeout.
      exitCode = await victim.stop(SHUTDOWN_TIMEOUT_MS + 10_000);
      exitMs = performance.now() - t0;
      phase = 'after';
      await sleep(1500);
    } finally {
      stop = true;
      await Promise.all(writers);
      client.close();
    }

    const byPhase = (p: Phase): number => acked.filter((a) => a.phase === p).length;
    console.log(
      `SIGTERM to ${victim.name}: exited with code ${exitCode} after ${Math.round(exitMs ?? NaN)} ms ` +
        `(KVRING_SHUTDOWN_TIMEOUT ${SHUTDOWN_TIMEOUT_MS} ms); acknowledged writes: ` +
        `${byPhase('before')} before, ${byPhase('during')} during, ${byPhase('after')} after; ` +
        `failed: ${[...failures.values()].reduce((a, b) => a + b, 0)}` +
        (failures.size > 0 ? ` (${[...failures].map(([w, n]) => `${n} x ${w}`).join('; ')})` : ''),
    );

    expect(exitCode).toBe(0);
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    // A planned stop fails no operation: the client resends what the
    // stopping node refused at the door to another node.
    expect([...failures]).toEqual([]);
    // The load really ran on both sides of the shutdown.
    expect(byPhase('before')).toBeGreaterThan(0);
    expect(byPhase('during') + byPhase('after')).toBeGreaterThan(0);

    // Every acknowledged write is in PostgreSQL, at the acknowledged version.
    const rows = await env.sql<{ key: string; value: Buffer; version: string; tombstone: boolean }>(
      'select key, value, version, tombstone from kv_store where key = any($1::text[])',
      [acked.map((a) => a.key)],
    );
    const stored = new Map(rows.map((r) => [r.key, r]));
    const missingInPg = acked.filter((a) => {
      const r = stored.get(a.key);
      return (
        r === undefined || r.tombstone || r.value.toString() !== a.value || Number(r.version) < a.version
      );
    });
    expect(missingInPg).toEqual([]);

    // And reads back through each node that is still running.
    for (const n of others) {
      const c = new KvClient(n.clientAddress, { timeoutMs: 15_000 });
      try {
        const wrong: string[] = [];
        for (let i = 0; i < acked.length; i += 500) {
          const batch = acked.slice(i, i + 500);
          const items = await c.mget(batch.map((a) => a.key));
          items.forEach((it, j) => {
            const a = batch[j]!;
            if (!it.found || it.value.toString() !== a.value) wrong.push(`${a.key} (${a.phase})`);
          });
        }
        expect({ node: n.name, wrong }).toEqual({ node: n.name, wrong: [] });
      } finally {
        c.close();
      }
    }
  }, 120_000);
});
