// One ring-aware client under a read/write load while a node is killed and
// brought back: reads fail over, writes succeed or fail with a typed reason
// and none is applied twice (the load is sequential with no other writer,
// so the read after an acknowledged write must return exactly that value
// and version: a second application would show a newer version; at the end
// PostgreSQL holds the last acknowledged version of each key), and the
// client sends to the node again once it is back.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KvClient, KvError } from '@kvring/client';
import type { LocalNode } from '@kvring/devcluster/local-cluster';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({ nodes: 3 });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

/** Client requests of `method` the node has served (its /metrics). */
async function served(node: LocalNode, method: string): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('kvring_requests_total{') && line.includes(`method="${method}"`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

interface Tally {
  readsFailed: string[];
  /** Reads after an acknowledged write that did not return exactly it. */
  moved: string[];
  writesIssued: number;
  writesAcked: number;
  untyped: unknown[];
  reasons: Set<string>;
}

async function load(client: KvClient, keys: readonly string[], ops: number, tally: Tally, tag: string) {
  const acked = new Map<string, { value: string; version: number }>();
  for (let i = 0; i < ops; i++) {
    const key = keys[i % keys.length]!;
    const value = `${tag}-${i}`;
    tally.writesIssued++;
    try {
      acked.set(key, { value, version: await client.set(key, value) });
      tally.writesAcked++;
    } catch (err) {
      acked.delete(key);
      if (err instanceof KvError && err.reason) tally.reasons.add(err.reason);
      else tally.untyped.push(err);
    }
    try {
      const r = await client.get(key);
      const w = acked.get(key);
      if (w !== undefined && (r.value.toString() !== w.value || r.version !== w.version))
        tally.moved.push(`${key}: wrote ${w.value}@${w.version}, read ${r.value.toString()}@${r.version}`);
    } catch (err) {
      tally.readsFailed.push(String(err));
    }
  }
  return acked;
}

it('reads fail over, writes are typed and applied at most once, and the client returns to a node that came back', async () => {
  const client = new KvClient(env.cluster.clientAddresses, {
    timeoutMs: 5_000,
    downBackoffMs: 200,
    ringCheckIntervalMs: 300,
  });
  try {
    await client.refreshRing();
    expect(client.ringHash).toBeDefined();
    const keys = Array.from({ length: 24 }, (_, i) => `failover:${i}`);
    for (const k of keys) await client.set(k, 'seed');
    const tally: Tally = {
      readsFailed: [],
      moved: [],
      writesIssued: 0,
      writesAcked: 0,
      untyped: [],
      reasons: new Set(),
    };

    await load(client, keys, 60, tally, 'a');
    const victim = env.cluster.node('kv-1');
    await victim.kill();
    const acked = await load(client, keys, 120, tally, 'b');

    expect(tally.readsFailed).toEqual([]);
    expect(tally.untyped).toEqual([]);
    expect(tally.writesAcked).toBeGreaterThan(0);
    expect(tally.moved).toEqual([]);
    const rows = await env.sql<{ key: string; version: string }>(
      'SELECT key, version::text FROM kv_store WHERE key = ANY($1)',
      [[...acked.keys()]],
    );
    expect(new Map(rows.map((r) => [r.key, Number(r.version)]))).toEqual(
      new Map([...acked].map(([k, w]) => [k, w.version])),
    );

    // kv-1 comes back: once its backoff ran out and a ring check saw it up
    // again, the client sends to it (bounded in time and count).
    await victim.startReady();
    await env.cluster.waitConverged();
    const gets = await served(victim, 'Get');
    const until = Date.now() + 20_000;
    for (let i = 0; i < 5000 && Date.now() < until && (await served(victim, 'Get')) === gets; i++)
      await client.get(keys[i % keys.length]!);
    expect(await served(victim, 'Get')).toBeGreaterThan(gets);
  } finally {
    client.close();
  }
}, 180_000);
