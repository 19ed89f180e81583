// A rolling restart under load, as a Kubernetes rolling update or an
// eviction of every pod does it on a real cluster (e2e scenarios 4 and 11),
// here with three real node processes on loopback: each node in turn gets
// SIGTERM, exits, and starts again (the next one once every node sees every
// member up, as the operator paces a rollout); a ring-aware client keeps
// writing fresh keys, overwriting hot keys and reading them. A planned restart fails no
// operation (issue 15.2), no read goes back in time, and every acknowledged
// write reads back afterwards.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KvClient, KvError, MemberState } from '@kvring/client';
import { startTestEnv, type TestEnv } from '../support/cluster.js';

const WORKERS = 4;
/** Bound on each worker's loop, whatever happens to the clock. */
const MAX_OPS = 50_000;

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv({ nodes: 3, env: { KVRING_SHUTDOWN_TIMEOUT: '10s' } });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

/** Waits (bounded) until every node's ClusterInfo shows each member up (or itself). */
async function everyMemberUp(
  client: KvClient,
  addresses: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const views = await Promise.all(
      addresses.map((a) => client.clusterInfo(a).catch((e: Error) => e.message)),
    );
    const down = views.flatMap((v) =>
      typeof v === 'string'
        ? [v]
        : v.members
            .filter(
              (m) => m.state !== MemberState.MEMBER_STATE_UP && m.state !== MemberState.MEMBER_STATE_SELF,
            )
            .map((m) => `${v.self} sees ${m.name} ${MemberState[m.state]}`),
    );
    if (down.length === 0) return;
    last = down.join('; ');
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not every member up within ${timeoutMs} ms: ${last}`);
}

it('restarts every node in turn under load with no failed operation and no stale read', async () => {
  const client = new KvClient(env.cluster.clientAddresses, { timeoutMs: 5_000 });
  const failures = new Map<string, number>();
  const fail = (what: string, err: unknown): void => {
    const why = err instanceof KvError ? `${what} ${err.reason}: ${err.details}` : `${what} ${String(err)}`;
    failures.set(why, (failures.get(why) ?? 0) + 1);
  };
  const acked = new Map<string, string>();
  /** Per hot key: the highest value acknowledged, and the highest any finished read returned. */
  const hotAcked = new Array<number>(WORKERS).fill(0);
  const hotSeen = new Array<number>(WORKERS).fill(0);
  const stale: string[] = [];
  let stop = false;
  let ops = 0;

  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < MAX_OPS && !stop; i++) {
      const key = `rr:${w}:${i}`;
      try {
        await client.set(key, `v${i}`);
        acked.set(key, `v${i}`);
        await client.set(`rr:hot:${w}`, `h${i + 1}`);
        hotAcked[w] = Math.max(hotAcked[w]!, i + 1);
      } catch (err) {
        fail('write', err);
      }
      ops += 2;
    }
  };
  const reader = async (r: number): Promise<void> => {
    for (let i = 0; i < MAX_OPS && !stop; i++) {
      const w = (r + i) % WORKERS;
      const floor = Math.max(hotAcked[w]!, hotSeen[w]!);
      try {
        const g = await client.get(`rr:hot:${w}`);
        const n = g.found ? Number(g.value.toString().slice(1)) : 0;
        if (n < floor) stale.push(`hot ${w}: read h${n} after h${floor}`);
        hotSeen[w] = Math.max(hotSeen[w]!, n);
      } catch (err) {
        fail('read', err);
      }
      ops++;
    }
  };

  const load = [
    ...Array.from({ length: WORKERS }, (_, w) => writer(w)),
    ...Array.from({ length: WORKERS }, (_, r) => reader(r)),
  ];
  const restarts: string[] = [];
  try {
    // The load runs before the first restart and after the last one.
    while (ops < 200) await new Promise((r) => setTimeout(r, 50));
    for (const node of env.cluster.nodes) {
      const t0 = performance.now();
      const code = await node.stop(20_000);
      await node.startReady(60_000);
      const ready = performance.now();
      // Paced as the operator paces a rollout (reconcile/rollout.ts
      // ringSettled): the next node goes once every node sees every owner up.
      await everyMemberUp(client, env.cluster.clientAddresses, 30_000);
      restarts.push(
        `${node.name} exit ${code}, Ready in ${Math.round(ready - t0)} ms, seen up by every node ${Math.round(performance.now() - ready)} ms later`,
      );
    }
    const after = ops;
    while (ops < after + 200) await new Promise((r) => setTimeout(r, 50));
  } finally {
    stop = true;
    await Promise.all(load);
  }
  console.log(
    `rolling restart: ${restarts.join('; ')}; ${ops} operations, ${[...failures.values()].reduce((a, b) => a + b, 0)} failed` +
      (failures.size > 0 ? ` (${[...failures].map(([w, n]) => `${n} x ${w}`).join('; ')})` : ''),
  );

  expect(stale).toEqual([]);
  expect([...failures]).toEqual([]);
  const wrong: string[] = [];
  const keys = [...acked.keys()];
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    (await client.mget(batch)).forEach((it, j) => {
      const k = batch[j]!;
      if (!it.found || it.value.toString() !== acked.get(k)) wrong.push(k);
    });
  }
  client.close();
  expect(wrong).toEqual([]);
}, 240_000);
