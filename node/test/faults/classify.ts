// What a failed request means for the history. A read that failed observed
// nothing. A write or delete that failed is in doubt (it may have committed
// in PostgreSQL before the error), except when the error proves it was
// never applied:
// - INVALID_ARGUMENT: the node checks input before anything else;
// - the coordinator's pre-commit refusal "only N of M replicas of this key
//   are up; a write needs W" (thrown before the PostgreSQL upsert);
// - grpc-js' "No connection established": the channel had no connection,
//   so the request never left the client.
// Everything else (timeouts, UNAVAILABLE after the commit, a dropped
// connection, CANCELLED, INTERNAL) stays in doubt. A client that retried
// on another node reports only its last attempt's error: an earlier attempt
// may have committed, so only INVALID_ARGUMENT proves nothing happened.
import { status } from '@grpc/grpc-js';
import type { OpKind, Outcome } from './history.js';

export interface ErrorLike {
  readonly code?: unknown;
  readonly details?: unknown;
  readonly message?: unknown;
}

const PRE_COMMIT_REFUSAL = /only \d+ of \d+ replicas of this key are up; a write needs \d+/;
const NOT_SENT = /^No connection established/;

export function outcomeOfError(kind: OpKind, err: ErrorLike, opts: { retried?: boolean } = {}): Outcome {
  if (kind === 'read') return 'fail';
  const code = typeof err.code === 'number' ? err.code : undefined;
  const details = typeof err.details === 'string' ? err.details : messageOf(err);
  if (code === status.INVALID_ARGUMENT) return 'fail';
  if (opts.retried) return 'info';
  if (code === status.UNAVAILABLE && (PRE_COMMIT_REFUSAL.test(details) || NOT_SENT.test(details)))
    return 'fail';
  return 'info';
}

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, value]) => [value, name]),
);

/** "UNAVAILABLE: only 1 of 3 replicas ..." for the history file. */
export function describeError(err: ErrorLike): string {
  const code = typeof err.code === 'number' ? (CODE_NAMES.get(err.code) ?? String(err.code)) : 'ERROR';
  const details = typeof err.details === 'string' ? err.details : messageOf(err);
  return `${code}: ${details}`.slice(0, 300);
}

function messageOf(err: ErrorLike): string {
  return typeof err.message === 'string' ? err.message : JSON.stringify(err);
}
