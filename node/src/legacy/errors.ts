// The one error a legacy read-through fails with. Its `code` is stable (logs,
// metrics and the gRPC status mapping in ../errors.ts key on it) and says
// which failure it was.
import { KvError } from '../errors.js';

export type LegacyErrorCode =
  /** No answer within the client's timeoutMs. */
  | 'LEGACY_TIMEOUT'
  /** Connection refused, reset or closed; or the client was closed. */
  | 'LEGACY_UNREACHABLE'
  /** A 200 whose body is not JSON with a usable `value`, or is too large. */
  | 'LEGACY_BAD_RESPONSE'
  /** The circuit breaker is open: no request was sent. */
  | 'LEGACY_BREAKER_OPEN'
  /** Any status other than 200 and 404, e.g. LEGACY_HTTP_503, LEGACY_HTTP_401. */
  | `LEGACY_HTTP_${number}`;

export class LegacyUnavailableError extends KvError {
  override readonly name = 'LegacyUnavailableError';

  constructor(
    readonly code: LegacyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
