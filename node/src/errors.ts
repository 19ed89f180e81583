// Failures a node reports, one class each with a stable code, and the one
// table that maps them to gRPC status codes (model: etcd's v3rpc error
// mapping). Messages say what failed and, where it helps, what to do.
import { status } from '@grpc/grpc-js';

export abstract class KvError extends Error {
  abstract readonly code: string;
}

/** Bad input: which field, which limit. No state was changed. */
export class InvalidArgumentError extends KvError {
  readonly code = 'INVALID_ARGUMENT';
  override readonly name = 'InvalidArgumentError';
}

/** Too few replicas answered to reach the quorum. */
export class QuorumError extends KvError {
  readonly code = 'QUORUM_UNAVAILABLE';
  override readonly name = 'QuorumError';
}

/** A dependency (PostgreSQL, the legacy API) is unreachable. */
export class DependencyUnavailableError extends KvError {
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  override readonly name = 'DependencyUnavailableError';
}

/** The node is shutting down or draining and takes no new work. */
export class ShuttingDownError extends KvError {
  readonly code = 'SHUTTING_DOWN';
  override readonly name = 'ShuttingDownError';
}

/** A peer did not answer in time, or its stream broke. */
export class PeerUnavailableError extends KvError {
  readonly code = 'PEER_UNAVAILABLE';
  override readonly name = 'PeerUnavailableError';
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

/** Errors of other modules that carry a stable `code` map by that code. */
const BY_CODE: Record<string, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  QUORUM_UNAVAILABLE: status.UNAVAILABLE,
  DEPENDENCY_UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  PEER_UNAVAILABLE: status.UNAVAILABLE,
  PG_UNAVAILABLE: status.UNAVAILABLE,
  INVALID_KEY: status.INVALID_ARGUMENT,
  LEGACY_TIMEOUT: status.UNAVAILABLE,
  LEGACY_UNREACHABLE: status.UNAVAILABLE,
  LEGACY_BAD_RESPONSE: status.UNAVAILABLE,
  LEGACY_BREAKER_OPEN: status.UNAVAILABLE,
  VERSION_REGRESSION: status.DATA_LOSS,
  VERSION_MISMATCH: status.FAILED_PRECONDITION,
  INVALID_WRITE: status.INVALID_ARGUMENT,
};

/** The gRPC status for any error thrown by the coordinator. */
export function grpcStatusOf(err: unknown): status {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const mapped = BY_CODE[code] ?? (code.startsWith('LEGACY_') ? status.UNAVAILABLE : undefined);
    if (mapped !== undefined) return mapped;
  }
  return status.INTERNAL;
}
