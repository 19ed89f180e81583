// Validation of what goes into SQL text or into a `text` column: the table
// name (a setting, spliced into statements, so it is checked and quoted),
// keys (bound as parameters, but PostgreSQL text has limits of its own) and
// writes. Everything that could make PostgreSQL fail a statement is refused
// here, for the one caller, rather than failing the group commit it would
// share with others.
import { InvalidKeyError, InvalidWriteError } from './errors.js';
import type { WriteOp } from './types.js';

/** Same rule as KVRING_POSTGRES_TABLE's validation: a plain, unqualified SQL identifier. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * A B-tree index entry holds at most ~2700 bytes; a longer key would fail the
 * whole group commit it travels in. Keys are also limited by the node
 * (KVRING_MAX_KEY_BYTES, default 1024); this is the store's own hard bound.
 */
export const MAX_KEY_BYTES = 2048;

// An unpaired UTF-16 surrogate: Buffer/UTF-8 encoding would silently turn it
// into U+FFFD, so two different JS keys would map to one stored key.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Returns `name` double-quoted for SQL, after checking it is a plain identifier. */
export function quoteTable(name: string): string {
  if (!IDENTIFIER.test(name))
    throw new Error(
      `KVRING_POSTGRES_TABLE: expected an SQL identifier (letters, digits, _; at most 63), got ${JSON.stringify(name)}`,
    );
  return `"${name}"`;
}

/** A derived object name (index) for a table, kept within PostgreSQL's 63-byte identifier limit. */
export function quoteDerived(table: string, suffix: string): string {
  const name = `${table.slice(0, 63 - suffix.length)}${suffix}`;
  return quoteTable(name);
}

/** The quoted name of a table's version sequence (migration 4): one sequence per data table. */
export function quoteSequence(table: string): string {
  return quoteDerived(table, '_version_seq');
}

/** The quoted name of a table's idempotency records (migration 5). */
export function quoteIdempotency(table: string): string {
  return quoteDerived(table, '_idempotency');
}

/** The quoted name of a table's purge watermark (migration 6): one row, the highest version purged. */
export function quotePurged(table: string): string {
  return quoteDerived(table, '_purged');
}

/** Longest idempotency key, in UTF-8 bytes. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 128;

/** Throws InvalidKeyError unless PostgreSQL `text` can store `key` exactly as given. */
export function checkKey(key: string): void {
  if (typeof key !== 'string') throw new InvalidKeyError('key must be a string');
  if (key.includes('\0'))
    throw new InvalidKeyError('key contains a NUL character, which PostgreSQL text cannot hold');
  if (LONE_SURROGATE.test(key))
    throw new InvalidKeyError('key contains an unpaired UTF-16 surrogate (not valid Unicode)');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES)
    throw new InvalidKeyError(
      `key is ${bytes} bytes in UTF-8; the PostgreSQL store takes at most ${MAX_KEY_BYTES}`,
    );
}

export function distinctKeys(keys: readonly string[]): string[] {
  const unique = [...new Set(keys)];
  for (const k of unique) checkKey(k);
  return unique;
}

/** 100 years: beyond it, now() + ttl could overflow a timestamp and fail the whole batch. */
const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

export function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs < 0 || ttlMs > MAX_TTL_MS)
    throw new InvalidWriteError(
      `ttlMs must be a number from 0 (no expiry) to ${MAX_TTL_MS} (100 years), got ${ttlMs}`,
    );
}

export function checkWrite(op: WriteOp): void {
  if (op.tombstone) {
    if (op.value !== null)
      throw new InvalidWriteError('a tombstone write carries no value (value must be null)');
    return;
  }
  if (!Buffer.isBuffer(op.value))
    throw new InvalidWriteError('a write carries a Buffer value (null only for a tombstone)');
  checkTtl(op.ttlMs);
}
