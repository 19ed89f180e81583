// The final read of a run: every key the history touched (but those written
// with a TTL, which may expire) read once more through the cluster, each
// read recorded in the history too, for the checker (checker.ts). Shared by
// the fault suite and the mixed-version integration test.
import { KvClient } from '@kvring/client';
import type { FinalRead } from './checker.js';
import type { HistoryRecorder, InvokeEvent } from './history.js';
import type { WorkloadNode } from './workload.js';

/** Process ids of the final reads, apart from the workers'. */
const FINAL_READ_PROC = 100_000;

/** Reads every non-TTL key of the history through the cluster, recording the reads in the history too. */
export async function finalReads(
  nodes: readonly WorkloadNode[],
  history: HistoryRecorder,
): Promise<{ reads: Map<string, FinalRead>; errors: number }> {
  const keys = new Set<string>();
  const ttl = new Set<string>();
  for (const e of history.events)
    if (e.type === 'invoke') {
      keys.add(e.key);
      if ((e.ttlMs ?? 0) > 0) ttl.add(e.key);
    }
  const list = [...keys].filter((k) => !ttl.has(k)).sort();
  const clients = nodes
    .filter((n) => !n.standby)
    .map((n) => ({
      name: n.name,
      c: new KvClient(n.clientAddress, { timeoutMs: 5_000 }),
    }));
  const reads = new Map<string, FinalRead>();
  let errors = 0;
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < list.length; i = next++) {
      const key = list[i]!;
      let done = false;
      for (let attempt = 0; attempt < 3 && !done; attempt++) {
        const { name, c } = clients[(i + attempt) % clients.length]!;
        const inv: InvokeEvent = history.invoke({ proc: FINAL_READ_PROC + w, f: 'read', key, node: name });
        try {
          const r = await c.get(key);
          const value = r.value.toString('utf8');
          history.complete(inv, 'ok', { found: r.found, ...(r.found ? { value, version: r.version } : {}) });
          reads.set(key, { found: r.found, value, version: r.version });
          done = true;
        } catch (err) {
          history.complete(inv, 'fail', { error: (err as Error).message.slice(0, 200) });
        }
      }
      if (!done) errors++;
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  } finally {
    for (const { c } of clients) c.close();
  }
  return { reads, errors };
}
