// The purge horizon must outlast every way a replica can still hold, or
// still receive, a version older than a tombstone or an expired row: once
// that row is deleted, PostgreSQL can no longer say the replica's copy is
// stale. Checked at start-up, so an unsafe horizon never runs.
import { ConfigError } from './settings.js';

export interface PurgeHorizonInputs {
  readonly purgeAfterMs: number;
  readonly hintsMaxAgeMs: number;
  readonly shutdownTimeoutMs: number;
  readonly antiEntropyIntervalMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * The shortest safe horizon:
 * - KVRING_HINTS_MAX_AGE: a hint (an older value queued for a down replica)
 *   is replayed, or handed over on a drain, until it is this old;
 * - KVRING_SHUTDOWN_TIMEOUT: a stopping or drained node flushes its hints
 *   and streams its keys within it;
 * - 2 × KVRING_ANTI_ENTROPY_INTERVAL: a replica that missed the delete gets
 *   the tombstone from PostgreSQL within one round (two, for a round that
 *   was already running);
 * - KVRING_REQUEST_TIMEOUT: a replication frame or stream still in flight.
 */
export function minimumPurgeAfterMs(c: Omit<PurgeHorizonInputs, 'purgeAfterMs'>): number {
  return c.hintsMaxAgeMs + c.shutdownTimeoutMs + 2 * c.antiEntropyIntervalMs + c.requestTimeoutMs;
}

export function checkPurgeHorizon(c: PurgeHorizonInputs): void {
  const min = minimumPurgeAfterMs(c);
  if (c.purgeAfterMs <= min)
    throw new ConfigError(
      `KVRING_PURGE_AFTER (${c.purgeAfterMs} ms) must exceed KVRING_HINTS_MAX_AGE (${c.hintsMaxAgeMs} ms) + ` +
        `KVRING_SHUTDOWN_TIMEOUT (${c.shutdownTimeoutMs} ms) + 2 × KVRING_ANTI_ENTROPY_INTERVAL ` +
        `(${c.antiEntropyIntervalMs} ms) + KVRING_REQUEST_TIMEOUT (${c.requestTimeoutMs} ms) = ${min} ms: ` +
        'a replica may still hold or receive an older value until then, and a purged tombstone could no longer hide it',
    );
}
