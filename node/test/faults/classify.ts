// What a failed request means for the history. A read that failed observed
// nothing. A write or delete that failed is in doubt (it may have committed
// in PostgreSQL before the error), except when the error proves it was
// never applied, which the client's typed error says by structure:
// - INVALID_ARGUMENT: the node checks input before anything else;
// - reason QUORUM_UNAVAILABLE, POSTGRES_UNAVAILABLE or SHUTTING_DOWN: the
//   node refused before PostgreSQL's commit was sent;
// - notSent: the client could not connect, so the request never left it.
// Everything else (WRITE_IN_DOUBT, timeouts, a dropped connection,
// CANCELLED, INTERNAL) stays in doubt. A client that retried on another
// node reports only its last attempt's error: an earlier attempt may have
// committed, so only INVALID_ARGUMENT proves nothing happened.
import { status } from '@grpc/grpc-js';
import type { OpKind, Outcome } from './history.js';

export interface ErrorLike {
  readonly code?: unknown;
  readonly reason?: unknown;
  readonly notSent?: unknown;
  readonly details?: unknown;
  readonly message?: unknown;
}

const REFUSED_BEFORE_COMMIT = new Set(['QUORUM_UNAVAILABLE', 'POSTGRES_UNAVAILABLE', 'SHUTTING_DOWN']);

export function outcomeOfError(kind: OpKind, err: ErrorLike, opts: { retried?: boolean } = {}): Outcome {
  if (kind === 'read') return 'fail';
  const code = typeof err.code === 'number' ? err.code : undefined;
  if (code === status.INVALID_ARGUMENT) return 'fail';
  if (opts.retried) return 'info';
  if (err.notSent === true) return 'fail';
  if (code === status.UNAVAILABLE && typeof err.reason === 'string' && REFUSED_BEFORE_COMMIT.has(err.reason))
    return 'fail';
  return 'info';
}

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, value]) => [value, name]),
);

/**
 * "QUORUM_UNAVAILABLE: only 1 of 3 replicas ..." for the history file: the
 * node's reason (ErrorInfo) when the error carries one, else the gRPC
 * status name ("UNAVAILABLE: No connection established").
 */
export function describeError(err: ErrorLike): string {
  const code =
    typeof err.reason === 'string' && err.reason !== ''
      ? err.reason
      : typeof err.code === 'number'
        ? (CODE_NAMES.get(err.code) ?? String(err.code))
        : 'ERROR';
  const details = typeof err.details === 'string' ? err.details : messageOf(err);
  return `${code}: ${details}`.slice(0, 300);
}

function messageOf(err: ErrorLike): string {
  return typeof err.message === 'string' ? err.message : JSON.stringify(err);
}
