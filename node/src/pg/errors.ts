// Errors of the PostgreSQL layer. Callers map them to gRPC codes by their
// stable `code` (PgUnavailableError -> UNAVAILABLE, InvalidKeyError ->
// INVALID_ARGUMENT), never by message text.

/** Why PostgreSQL could not do what was asked. */
export type PgUnavailableReason =
  /** No connection, a dropped connection, a timeout, or a server shutting down. */
  | 'unreachable'
  /** PostgreSQL answered with an error for the statement. */
  | 'statement'
  /** The store was closed. */
  | 'closed';

/**
 * PostgreSQL could not confirm the operation. For a write this means it was
 * NOT acknowledged as committed. (When the connection dies after COMMIT was
 * sent, the write may still have committed; it then carries a version like
 * any other row and anti-entropy finds it with changedSince.)
 */
export class PgUnavailableError extends Error {
  override readonly name = 'PgUnavailableError';
  readonly code = 'PG_UNAVAILABLE';
  constructor(
    message: string,
    readonly reason: PgUnavailableReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A key PostgreSQL `text` cannot hold (NUL, unpaired surrogate) or too long for its index. */
export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError';
  readonly code = 'INVALID_KEY';
}

/** A conditional write whose expected version is not the key's current one. Nothing was written. */
export class VersionMismatchError extends Error {
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
export class InvalidWriteError extends Error {
  override readonly name = 'InvalidWriteError';
  readonly code = 'INVALID_WRITE';
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

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
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

/** Wraps any failure of `what` as a PgUnavailableError with a message that says why. */
export function toPgUnavailable(err: unknown, what: string): PgUnavailableError {
  if (err instanceof PgUnavailableError) return err;
  const why = describePgError(err);
  return isUnreachable(err)
    ? new PgUnavailableError(`PostgreSQL is unreachable (${what} not done): ${why}`, 'unreachable', {
        cause: err,
      })
    : new PgUnavailableError(`PostgreSQL failed the ${what}: ${why}`, 'statement', { cause: err });
}
