// The one error a legacy read-through fails with. Its code is always
// LEGACY_UNAVAILABLE (the table in ../errors.ts maps it); `failure` says
// which failure it was, for logs, metrics and the ErrorInfo metadata.
import { KvError } from '../errors.js';

export type LegacyFailure =
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
  readonly code = 'LEGACY_UNAVAILABLE';

  constructor(
    readonly failure: LegacyFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  override details(): Record<string, string> {
    return { failure: this.failure };
  }
}
