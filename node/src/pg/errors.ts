// Errors of the PostgreSQL layer, each a KvError with a stable code that
// the one table in ../errors.ts maps to a gRPC status:
// - PgUnavailableError (POSTGRES_UNAVAILABLE): PostgreSQL did not do it.
//   For a write: refused before its commit was sent, so it was not applied.
// - WriteInDoubtError (WRITE_IN_DOUBT): the commit was sent and its answer
//   lost; the write may or may not have committed.
// - InvalidKeyError / InvalidWriteError (INVALID_ARGUMENT): refused before
//   anything was sent.
import { InvalidArgumentError, KvError, WriteInDoubtError } from '../errors.js';

/** Why PostgreSQL could not do what was asked. */
export type PgUnavailableReason =
  /** No connection, a dropped connection, a timeout, or a server shutting down. */
  | 'unreachable'
  /** PostgreSQL answered with an error for the statement. */
  | 'statement'
  /** The store was closed. */
  | 'closed';

/**
 * PostgreSQL could not confirm the operation, and for a write it is known
 * NOT to have committed (the in-doubt case is a WriteInDoubtError).
 */
export class PgUnavailableError extends KvError {
  override readonly name = 'PgUnavailableError';
  readonly code = 'POSTGRES_UNAVAILABLE';
  constructor(
    message: string,
    readonly reason: PgUnavailableReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A key PostgreSQL `text` cannot hold (NUL, unpaired surrogate) or too long for its index. */
export class InvalidKeyError extends InvalidArgumentError {
  override readonly name = 'InvalidKeyError';
}

/** A conditional write whose expected version is not the key's current one. Nothing was written. */
export class VersionMismatchError extends KvError {
  override readonly name = 'VersionMismatchError';
  readonly code = 'VERSION_MISMATCH';
  constructor(
    readonly key: string,
    readonly expected: number,
    /** The key's current version; 0 when it is absent, expired or deleted. */
    readonly current: number,
  ) {
    super(
      `expected_version ${expected} does not match: the key's current version is ${current}` +
        (current === 0 ? ' (absent, expired or deleted)' : ''),
    );
  }
}

/** A write the store refuses before sending it (bad TTL, tombstone with a value, ...). */
export class InvalidWriteError extends InvalidArgumentError {
  override readonly name = 'InvalidWriteError';
}

// SQLSTATEs that mean "the server cannot serve now" rather than "the statement is wrong".
const TRANSIENT_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '55P03', // lock_not_available
  '40P01', // deadlock_detected
  '40001', // serialization_failure
]);

// A SQLSTATE is five characters with at least one digit; system error
// codes (EPIPE, EBADF) are letters only and mean the socket failed.
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && /[0-9]/.test(code) ? code : undefined;
}

/**
 * True when the error says PostgreSQL is unreachable or not serving (worth
 * retrying later), false when PostgreSQL answered that the statement itself
 * is wrong. Errors without a SQLSTATE come from the socket or the client
 * (ECONNREFUSED, "Connection terminated unexpectedly", timeouts).
 */
export function isUnreachable(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return true;
  return state.startsWith('08') || TRANSIENT_SQLSTATES.has(state);
}

/** One line saying what went wrong, including the inner errors of an AggregateError. */
export function describePgError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    const inner = [...new Set(err.errors.map((e) => describePgError(e)))];
    return inner.join('; ');
  }
  if (err instanceof Error) {
    const state = sqlState(err);
    const sys = (err as { code?: unknown }).code;
    let msg = err.message || (typeof sys === 'string' ? sys : err.name);
    if (state) msg = `SQLSTATE ${state}: ${msg}`;
    return msg;
  }
  return String(err);
}

/**
 * True when `err`, raised after a statement was sent, leaves its outcome
 * unknown: the connection broke or timed out before PostgreSQL answered, or
 * the server terminated the session (57P01/57P02), which can happen after
 * the commit record is durable. Any other SQLSTATE is PostgreSQL's own
 * answer that the statement failed, so nothing committed.
 */
export function outcomeUnknown(err: unknown): boolean {
  const state = sqlState(err);
  return state === undefined || state.startsWith('08') || state === '57P01' || state === '57P02';
}

/**
 * The error for a write whose commit was sent (COMMIT, or the one
 * statement of an implicit transaction) when the store failed it: an
 * unreachable PostgreSQL whose underlying failure leaves the outcome
 * unknown becomes WRITE_IN_DOUBT; anything else is returned as it is.
 */
export function afterCommitSent(err: unknown, what: string): unknown {
  if (!(err instanceof PgUnavailableError) || err.reason !== 'unreachable' || !outcomeUnknown(err.cause))
    return err;
  return new WriteInDoubtError(
    `PostgreSQL's answer to the ${what} was lost (${describePgError(err.cause)}): it may or may not have committed`,
    undefined,
    { cause: err.cause },
  );
}

/** Wraps any failure of `what` as a PgUnavailableError with a message that says why; KvErrors pass through. */
export function toPgUnavailable(err: unknown, what: string): KvError {
  if (err instanceof KvError) return err;
  const why = describePgError(err);
  return isUnreachable(err)
    ? new PgUnavailableError(`PostgreSQL is unreachable (${what} not done): ${why}`, 'unreachable', {
        cause: err,
      })
    : new PgUnavailableError(`PostgreSQL failed the ${what}: ${why}`, 'statement', { cause: err });
}
