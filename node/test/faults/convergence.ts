// Convergence after the heal: every replica's digest against PostgreSQL's
// rows. A replica has converged on a key when it holds PostgreSQL's
// (newest) version of it, or nothing (evicted, never held). Keys written
// with a TTL are held to the same rule: an expired newest version is still
// the newest, and a replica that kept an older version (it missed a TTL
// overwrite, or a late frame refilled an evicted slot) has not converged.
import type { FinalRow } from './checker.js';
import type { FaultEnv } from './env.js';
import { sleep } from './faults.js';
import { digest } from './probes.js';

export interface Convergence {
  /** Divergent keys in the first round (at the heal). */
  readonly first: number;
  /** Divergent keys in the last round (0 when converged). */
  readonly last: number;
  /** Until no replica differed from PostgreSQL; null: not within the bound. */
  readonly ms: number | null;
  /** Up to 5 replicas' divergent entries of the last round. */
  readonly examples: string[];
}

/** Rows of PostgreSQL's table (the scenario's database holds only its own keys). */
export async function pgRows(env: Pick<FaultEnv, 'sql'>): Promise<Map<string, FinalRow>> {
  const rows = await env.sql<{ key: string; value: Buffer | null; version: string; tombstone: boolean }>(
    'SELECT key, value, version, tombstone FROM kv_store',
  );
  return new Map(
    rows.map((r) => [
      r.key,
      {
        version: Number(r.version),
        tombstone: r.tombstone,
        value: r.tombstone ? null : (r.value?.toString('utf8') ?? ''),
      },
    ]),
  );
}

/** One round: the keys some running replica holds at another version than PostgreSQL. */
export async function divergentKeys(env: FaultEnv): Promise<{ keys: Set<string>; examples: string[] }> {
  const rows = await pgRows(env);
  const keys = new Set<string>();
  const examples: string[] = [];
  for (const n of env.nodes.filter((x) => x.running && !x.paused)) {
    const d = await digest(n);
    for (const e of d.entries) {
      const row = rows.get(e.key);
      if (row !== undefined && row.version === e.version && row.tombstone === e.tombstone) continue;
      keys.add(e.key);
      if (examples.length < 5)
        examples.push(
          `${n.name} holds ${e.key} v${e.version}${e.tombstone ? ' tombstone' : ''}, PostgreSQL ` +
            (row ? `v${row.version}${row.tombstone ? ' tombstone' : ''}` : 'no row'),
        );
    }
  }
  return { keys, examples };
}

/**
 * Compares replicas with PostgreSQL until they match or `boundMs` passes
 * (PostgreSQL is read again each round: a write stalled by a partition may
 * still commit after the heal).
 */
export async function converge(env: FaultEnv, boundMs: number): Promise<Convergence> {
  const start = performance.now();
  let first = -1;
  let last = -1;
  let examples: string[] = [];
  for (let round = 0; round === 0 || (performance.now() - start < boundMs && round < 10_000); round++) {
    const d = await divergentKeys(env);
    last = d.keys.size;
    examples = d.examples;
    if (first < 0) first = last;
    if (last === 0) return { first, last, ms: Math.round(performance.now() - start), examples: [] };
    await sleep(250);
  }
  return { first, last, ms: null, examples };
}
