// One purge run on one connection: deletes expired rows and tombstones older
// than the horizon, and idempotency records older than their retention, in
// statements of at most `batch` rows, under a session advisory lock so that
// one node of the cluster purges a table at a time (the others find it
// taken and skip the run).
//
// No resurrection through the legacy API: a key with no row falls through
// to the legacy API on a read, so the tombstone of a key the legacy API has
// is never purged. Rows hydrated from it are marked `legacy` (sql.ts); any
// other tombstone is looked up in the legacy API before it goes (when one
// is configured): found -> marked and kept for good, not found -> purged,
// no answer -> kept and asked again next run. Kept tombstones are thus
// bounded by the legacy API's key count, and each key is asked about once.
import type pg from 'pg';
import type { PurgeStatements } from './purge-sql.js';

/** Whether the legacy API has `key`: undefined when it did not answer. */
export type LegacyLookup = (key: string) => Promise<boolean | undefined>;

export interface PurgeParams {
  /** Tombstones and expired rows older than this (ms) go. */
  readonly horizonMs: number;
  /** Idempotency records older than this (ms) go. */
  readonly idempotencyTtlMs: number;
  /** Most rows one statement deletes. */
  readonly batch: number;
  /** Most statements per kind in one run (bounds the run). */
  readonly maxBatches: number;
  /** Set when a legacy API is configured. */
  readonly legacyHas?: LegacyLookup;
  /** Legacy lookups in flight at once. */
  readonly legacyConcurrency?: number;
}

export interface PurgeCounts {
  expired: number;
  tombstones: number;
  idempotency: number;
  /** Tombstones found to shadow a key of the legacy API, now kept for good. */
  legacyKept: number;
}

/** The outcome of a run: counts, or `locked` when another node was purging. */
export type PurgeOutcome = { readonly ran: true; readonly counts: PurgeCounts } | { readonly ran: false };

export async function runPurge(
  c: pg.ClientBase,
  sql: PurgeStatements,
  idemPurge: string,
  table: string,
  p: PurgeParams,
): Promise<PurgeOutcome> {
  const lock = await c.query<{ ok: boolean }>(sql.tryLock, [table]);
  if (lock.rows[0]?.ok !== true) return { ran: false };
  const counts: PurgeCounts = { expired: 0, tombstones: 0, idempotency: 0, legacyKept: 0 };
  const horizon = Math.floor(p.horizonMs);
  // Statements of one kind until one finds less than a full batch (`seen`), at most maxBatches.
  const repeat = async (step: () => Promise<{ n: number; seen: number }>): Promise<number> => {
    let total = 0;
    for (let i = 0; i < p.maxBatches; i++) {
      const { n, seen } = await step();
      total += n;
      if (seen < p.batch) break;
    }
    return total;
  };
  const all = (n: number): { n: number; seen: number } => ({ n, seen: n });
  try {
    counts.expired = await repeat(async () => all(await countOf(c, sql.expired, [horizon, p.batch])));
    counts.tombstones = await repeat(async () => {
      if (p.legacyHas === undefined) return all(await countOf(c, sql.tombstones, [horizon, p.batch]));
      const step = await checkedTombstones(c, sql, horizon, p, p.legacyHas);
      counts.legacyKept += step.kept;
      // Nothing decided (the legacy API did not answer): stop until the next run.
      return { n: step.purged, seen: step.purged + step.kept === 0 ? 0 : step.candidates };
    });
    const idem = Math.floor(p.idempotencyTtlMs);
    counts.idempotency = await repeat(async () =>
      all((await c.query(idemPurge, [idem, p.batch])).rowCount ?? 0),
    );
  } finally {
    await c.query(sql.unlock, [table]);
  }
  return { ran: true, counts };
}

/** One batch of tombstones, each looked up in the legacy API first. */
async function checkedTombstones(
  c: pg.ClientBase,
  sql: PurgeStatements,
  horizon: number,
  p: PurgeParams,
  legacyHas: LegacyLookup,
): Promise<{ candidates: number; purged: number; kept: number }> {
  const keys = (await c.query<{ key: string }>(sql.tombstoneCandidates, [horizon, p.batch])).rows.map(
    (r) => r.key,
  );
  const answers = await mapLimited(keys, p.legacyConcurrency ?? 8, (k) =>
    legacyHas(k).catch(() => undefined),
  );
  const found = keys.filter((_, i) => answers[i] === true);
  const absent = keys.filter((_, i) => answers[i] === false);
  if (found.length > 0) await c.query(sql.markLegacy, [found]);
  const purged = absent.length > 0 ? await countOf(c, sql.tombstonesOf, [horizon, absent]) : 0;
  return { candidates: keys.length, purged, kept: found.length };
}

async function countOf(c: pg.ClientBase, text: string, args: unknown[]): Promise<number> {
  return (await c.query<{ n: number }>(text, args)).rows[0]?.n ?? 0;
}

/** `fn` over `xs` with at most `limit` calls in flight; results in order. */
async function mapLimited<T, R>(xs: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker));
  return out;
}
