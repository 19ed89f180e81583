// Typed errors, read off the wire: a node sends a google.rpc.Status with one
// google.rpc.ErrorInfo (domain kvring.dev) in the grpc-status-details-bin
// trailer; its reason picks the class, its metadata fills the fields. A
// failure with no ErrorInfo (the transport's own: no connection, deadline,
// a connection that broke) is a KvError whose reason is the gRPC status name.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from './gen/google/rpc/error_details.js';
import { Status } from './gen/google/rpc/status.js';

export const ERROR_DOMAIN = 'kvring.dev';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/** A failed call: the node's reason (ErrorInfo.reason), the gRPC status code and message, and the node's address. */
export class KvError extends Error {
  override readonly name: string = 'KvError';
  constructor(
    /** kvring's stable reason (e.g. WRITE_IN_DOUBT), or the gRPC status name when the node sent none. */
    readonly reason: string,
    /** The gRPC status code. */
    readonly code: number,
    /** The node's message. */
    readonly details: string,
    /** The node the call went to. */
    readonly address: string,
    /** ErrorInfo.metadata: facts about this failure. */
    readonly metadata: Readonly<Record<string, string>> = {},
    /** True when the call provably never left this client (no connection to the node). */
    readonly notSent = false,
  ) {
    super(`${address}: ${details}`);
  }
}

/** The former name of KvError, kept for existing callers. */
export { KvError as KvClientError };

/** Too few replicas could answer. A write failing so was refused before it was applied. */
export class QuorumUnavailableError extends KvError {
  override readonly name = 'QuorumUnavailableError';
}

/** Nobody knows whether the write took effect. Do not resend it blindly: read the key to find out. */
export class WriteInDoubtError extends KvError {
  override readonly name = 'WriteInDoubtError';
  /** The version PostgreSQL committed, when the node knows it. */
  get version(): number | undefined {
    const v = this.metadata.version;
    return v === undefined ? undefined : Number(v);
  }
}

/** PostgreSQL could not do it; a write failing so was not applied. */
export class PostgresUnavailableError extends KvError {
  override readonly name = 'PostgresUnavailableError';
}

/** The legacy API could not answer a read-through. */
export class LegacyUnavailableError extends KvError {
  override readonly name = 'LegacyUnavailableError';
}

/** The node is shutting down; nothing was applied, another node can take the call. */
export class ShuttingDownError extends KvError {
  override readonly name = 'ShuttingDownError';
}

/** Bad input; nothing was applied. */
export class InvalidArgumentError extends KvError {
  override readonly name: string = 'InvalidArgumentError';
}

/** Input past a node's limit: `field` exceeded `limit`. Nothing was applied. */
export class LimitExceededError extends InvalidArgumentError {
  override readonly name = 'LimitExceededError';
  get field(): string {
    return this.metadata.field ?? '';
  }
  get limit(): number {
    return Number(this.metadata.limit);
  }
}

/** The token was missing or wrong. */
export class UnauthenticatedError extends KvError {
  override readonly name = 'UnauthenticatedError';
}

type KvErrorClass = new (...args: ConstructorParameters<typeof KvError>) => KvError;

/** The class for each reason kvring sends; other reasons make a plain KvError. */
const CLASSES: Readonly<Record<string, KvErrorClass>> = {
  QUORUM_UNAVAILABLE: QuorumUnavailableError,
  WRITE_IN_DOUBT: WriteInDoubtError,
  POSTGRES_UNAVAILABLE: PostgresUnavailableError,
  LEGACY_UNAVAILABLE: LegacyUnavailableError,
  SHUTTING_DOWN: ShuttingDownError,
  INVALID_ARGUMENT: InvalidArgumentError,
  LIMIT_EXCEEDED: LimitExceededError,
  UNAUTHENTICATED: UnauthenticatedError,
};

/** The ErrorInfo in a failed call's trailers, if a kvring node sent one. */
export function errorInfoOf(metadata: Metadata | undefined): ErrorInfo | undefined {
  for (const raw of metadata?.get(STATUS_DETAILS_KEY) ?? []) {
    if (typeof raw === 'string') continue;
    try {
      for (const any of Status.decode(raw).details) {
        if (any.typeUrl !== ERROR_INFO_TYPE_URL) continue;
        const info = ErrorInfo.decode(any.value);
        if (info.domain === ERROR_DOMAIN) return info;
      }
    } catch {
      // A trailer that does not decode carries no reason; the status code still does.
    }
  }
  return undefined;
}

/** The typed error for a failed call to `address`. */
export function fromServiceError(err: ServiceError, address: string, notSent = false): KvError {
  const info = errorInfoOf(err.metadata);
  return errorOf(info?.reason ?? '', err.code, err.details || err.message, address, info?.metadata, notSent);
}

/**
 * The typed error for a failure with this reason (an ErrorInfo's, or a
 * Pipeline operation's); with no reason, a KvError named by the status.
 */
export function errorOf(
  reason: string,
  code: number,
  details: string,
  address: string,
  metadata: Readonly<Record<string, string>> = {},
  notSent = false,
): KvError {
  if (reason === '') return new KvError(status[code] ?? String(code), code, details, address, {}, notSent);
  const Class = CLASSES[reason] ?? KvError;
  return new Class(reason, code, details, address, metadata, notSent);
}
