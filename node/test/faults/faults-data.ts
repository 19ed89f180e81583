// Faults that damage the data itself rather than the processes or the
// network: the controls (the suite breaks a guarantee on purpose and the
// checkers must see it) and PostgreSQL going back in time as a restore or
// a failover to a lagging standby would make it.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { sleep, type FaultContext } from './faults.js';

/** cp -a: PostgreSQL runs as its own user and wants its files owned by it, mode kept. */
async function copyTree(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await promisify(execFile)('cp', ['-a', from, to], { timeout: 60_000 });
}

/**
 * A cold register key (k:8 and up: the workload's hot keys are written too
 * often for damage to stay visible) with at least `minWrites` acknowledged
 * writes, and those writes' values in order; undefined when none has yet.
 */
function coldKeyWithWrites(
  ctx: FaultContext,
  round: number,
  minWrites: number,
): [string, string[]] | undefined {
  const acked = new Map<string, string[]>();
  const ok = new Set<number>();
  for (const e of ctx.history.events) if (e.type === 'ok' && e.f === 'write') ok.add(e.id);
  for (const e of ctx.history.events)
    if (
      e.type === 'invoke' &&
      e.f === 'write' &&
      ok.has(e.id) &&
      e.value &&
      /^k:([89]|[1-9]\d+)$/.test(e.key)
    )
      acked.set(e.key, [...(acked.get(e.key) ?? []), e.value]);
  const candidates = [...acked].filter(([, values]) => values.length >= minWrites);
  return candidates.length === 0 ? undefined : candidates[round % candidates.length];
}

/**
 * The rollback control: rewrites a cold key's row in PostgreSQL to an older
 * acknowledged value under a new version, as a buggy restore would.
 * Anti-entropy spreads it to the replicas, and reads return a value a later
 * acknowledged write had replaced: both checkers must report it.
 */
export async function rollBackInPostgres(ctx: FaultContext, round: number): Promise<void> {
  const picked = coldKeyWithWrites(ctx, round, 2);
  if (picked === undefined) return;
  const [key, values] = picked;
  const old = values[0]!;
  const heal = ctx.history.fault(`control: ${key} rolled back to ${JSON.stringify(old)} in PostgreSQL`);
  ctx.figures.faults++;
  // No later write may paper over the damage before a read sees it.
  ctx.workload.freeze(key);
  try {
    await ctx.env.sql(
      'UPDATE kv_store SET value = $2, version = version + 1, tombstone = false, expires_at = NULL, updated_at = now() WHERE key = $1',
      [key, Buffer.from(old)],
    );
  } finally {
    heal();
  }
}

/**
 * The lost-write control: a cold key's row is deleted from PostgreSQL and
 * every replica's copy with it (all nodes SIGKILLed: their memory is the
 * only other copy), then the nodes restart. Its acknowledged writes are
 * gone: reads find nothing, and both checkers must report lost writes.
 */
export async function loseKey(ctx: FaultContext, round: number): Promise<void> {
  const picked = coldKeyWithWrites(ctx, round, 1);
  if (picked === undefined) return;
  const [key] = picked;
  const heal = ctx.history.fault(`control: ${key} deleted from PostgreSQL and from every replica`);
  ctx.figures.faults++;
  ctx.workload.freeze(key);
  try {
    await Promise.all(ctx.env.nodes.map((n) => n.kill()));
    await ctx.env.sql('DELETE FROM kv_store WHERE key = $1', [key]);
  } finally {
    await Promise.all(ctx.env.nodes.map((n) => n.startReady()));
    heal();
  }
}

/**
 * PostgreSQL loses its last seconds of commits: a clean stop and a copy of
 * its data directory, `lagMs` of load, then a stop, the copy restored over
 * the data directory, a start. Every commit of those seconds is gone while
 * the replicas still hold it: a version PostgreSQL hands out next may name
 * a value some replica already holds under that version.
 */
export async function restorePostgresFromCopy(ctx: FaultContext, lagMs: number): Promise<void> {
  const data = ctx.env.pg.dataDir;
  // Beside the data directory: removed with it when the scenario ends.
  const copy = join(dirname(data), 'restore-copy');
  const heal = ctx.history.fault(`PostgreSQL restored to a copy ${lagMs} ms old`);
  ctx.figures.faults++;
  try {
    await ctx.env.stopPostgres();
    await copyTree(data, copy);
    await ctx.env.restartPostgres();
    await sleep(lagMs);
    await ctx.env.stopPostgres();
    await copyTree(copy, data);
  } finally {
    await ctx.env.restartPostgres();
    heal();
  }
}
