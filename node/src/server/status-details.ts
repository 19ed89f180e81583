// How a failure travels: the gRPC status from the one table in
// ../errors.ts, the message as status details, and a google.rpc.Status
// holding one google.rpc.ErrorInfo (domain kvring.dev, reason = the
// error's stable code, its facts as metadata) in the
// `grpc-status-details-bin` trailer, so clients branch on the reason
// rather than on message text.
import { Metadata, type ServiceError, type status } from '@grpc/grpc-js';
import { errorCodeOf, grpcStatusOf, KvError, type ErrorCode } from '../errors.js';
import { ErrorInfo } from '../gen/google/rpc/error_details.js';
import { Status } from '../gen/google/rpc/status.js';

export const ERROR_DOMAIN = 'kvring.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

export interface WireError {
  readonly code: status;
  readonly reason: ErrorCode;
  readonly details: string;
  readonly metadata: Metadata;
}

/** The serialized google.rpc.Status for a failure. */
export function statusDetails(
  code: status,
  message: string,
  reason: ErrorCode,
  facts: Record<string, string>,
): Buffer {
  const info = ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata: facts }).finish();
  return Buffer.from(
    Status.encode({
      code,
      message,
      details: [{ typeUrl: ERROR_INFO_TYPE_URL, value: Buffer.from(info) }],
    }).finish(),
  );
}

/** Any thrown error as what the handler sends: unknown errors are INTERNAL. */
export function toWireError(err: unknown): WireError {
  const code = grpcStatusOf(err);
  const reason = errorCodeOf(err);
  const details = err instanceof Error ? err.message : String(err);
  const facts = err instanceof KvError ? err.details() : {};
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, statusDetails(code, details, reason, facts));
  return { code, reason, details, metadata };
}

/** The ServiceError grpc-js sends for `err`. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const { code, details, metadata } = toWireError(err);
  return { code, details, metadata };
}
