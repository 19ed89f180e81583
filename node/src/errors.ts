// Failures a node reports, one class each with a stable code, and the one
// table that maps codes to gRPC status codes (model: etcd's v3rpc error
// mapping). The code travels to clients as google.rpc.ErrorInfo.reason
// (server/status-details.ts), so it is part of the wire API: never rename
// one. Messages say what failed and, where it helps, what to do; nothing
// decides by message text.
import { status } from '@grpc/grpc-js';

/** Every stable code a node reports. Adding one without a row in GRPC_STATUS fails to compile. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'LIMIT_EXCEEDED'
  | 'QUORUM_UNAVAILABLE'
  | 'WRITE_IN_DOUBT'
  | 'POSTGRES_UNAVAILABLE'
  | 'LEGACY_UNAVAILABLE'
  | 'DEPENDENCY_UNAVAILABLE'
  | 'PEER_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'UNAUTHENTICATED'
  | 'ADMIN_NOT_ON_CLIENT_PORT'
  | 'VERSION_REGRESSION'
  | 'VERSION_MISMATCH'
  | 'INTERNAL';

/**
 * The one table from code to gRPC status. UNAVAILABLE means "not done,
 * safe to send again" to every generic gRPC retry policy, so it is used
 * only for failures that prove nothing was applied. An in-doubt write gets
 * UNKNOWN, which no standard policy retries.
 */
export const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  LIMIT_EXCEEDED: status.INVALID_ARGUMENT,
  QUORUM_UNAVAILABLE: status.UNAVAILABLE,
  WRITE_IN_DOUBT: status.UNKNOWN,
  POSTGRES_UNAVAILABLE: status.UNAVAILABLE,
  LEGACY_UNAVAILABLE: status.UNAVAILABLE,
  DEPENDENCY_UNAVAILABLE: status.UNAVAILABLE,
  PEER_UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  ADMIN_NOT_ON_CLIENT_PORT: status.UNIMPLEMENTED,
  // PostgreSQL lost commits: what was acknowledged may be gone.
  VERSION_REGRESSION: status.DATA_LOSS,
  // A conditional write whose expected version is not the current one.
  VERSION_MISMATCH: status.FAILED_PRECONDITION,
  INTERNAL: status.INTERNAL,
};

export abstract class KvError extends Error {
  abstract readonly code: ErrorCode;
  /** Facts about this failure for ErrorInfo.metadata (string values, as the wire has them). */
  details(): Record<string, string> {
    return {};
  }
}

/** Bad input (empty key, malformed Unicode, bad TTL): which field and why. No state was changed. */
export class InvalidArgumentError extends KvError {
  readonly code = 'INVALID_ARGUMENT';
  override readonly name: string = 'InvalidArgumentError';
}

/** Input past a configured limit (key or value size, batch size, TTL). No state was changed. */
export class LimitExceededError extends KvError {
  readonly code = 'LIMIT_EXCEEDED';
  override readonly name = 'LimitExceededError';
  constructor(
    /** The request field, e.g. `value` or `entries[3].key`. */
    readonly field: string,
    /** The limit it exceeded, in the limit's unit (bytes, entries, milliseconds). */
    readonly limit: number,
    message: string,
  ) {
    super(message);
  }
  override details(): Record<string, string> {
    return { field: this.field, limit: String(this.limit) };
  }
}

/**
 * Too few replicas could answer. For a write this is raised only before
 * PostgreSQL was asked, so the write was not applied; a write that
 * committed but missed W replicas is a WriteInDoubtError instead.
 */
export class QuorumError extends KvError {
  readonly code = 'QUORUM_UNAVAILABLE';
  override readonly name = 'QuorumError';
}

/**
 * Nobody can tell whether the write took effect: PostgreSQL's answer to
 * its COMMIT was lost, or it committed but fewer than W replicas applied
 * it. Sending it again could apply it twice; read the key to find out.
 */
export class WriteInDoubtError extends KvError {
  readonly code = 'WRITE_IN_DOUBT';
  override readonly name = 'WriteInDoubtError';
  constructor(
    message: string,
    /** The version PostgreSQL committed, when known. */
    readonly version?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  override details(): Record<string, string> {
    return this.version === undefined ? {} : { version: String(this.version) };
  }
}

/** A dependency reached through another node (read-through via the key's primary) failed. */
export class DependencyUnavailableError extends KvError {
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  override readonly name = 'DependencyUnavailableError';
}

/** The node is shutting down or draining and takes no new work; nothing was applied. */
export class ShuttingDownError extends KvError {
  readonly code = 'SHUTTING_DOWN';
  override readonly name = 'ShuttingDownError';
}

/** A peer did not answer in time, or its stream broke. */
export class PeerUnavailableError extends KvError {
  readonly code = 'PEER_UNAVAILABLE';
  override readonly name = 'PeerUnavailableError';
}

/** The call carried no valid bearer token. */
export class UnauthenticatedError extends KvError {
  readonly code = 'UNAUTHENTICATED';
  override readonly name = 'UnauthenticatedError';
}

/** An administrative call sent to the client port; it is served on the peer port only. */
export class AdminNotOnClientPortError extends KvError {
  readonly code = 'ADMIN_NOT_ON_CLIENT_PORT';
  override readonly name = 'AdminNotOnClientPortError';
}

/**
 * PostgreSQL handed out a version not above one already committed: it lost
 * commits (restored from a backup, failed over to an asynchronous standby).
 * The write is not acknowledged; see README, "Version regression".
 */
export class VersionRegressionError extends KvError {
  readonly code = 'VERSION_REGRESSION';
  override readonly name = 'VersionRegressionError';
}

/** The stable code of any error: its own for a KvError, INTERNAL for anything else (a bug). */
export function errorCodeOf(err: unknown): ErrorCode {
  return err instanceof KvError ? err.code : 'INTERNAL';
}

/** The gRPC status for any error thrown by the coordinator. */
export function grpcStatusOf(err: unknown): status {
  return GRPC_STATUS[errorCodeOf(err)];
}
