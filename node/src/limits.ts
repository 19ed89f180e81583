// Input limits. Every check runs before any state changes and fails with a
// stable code: LIMIT_EXCEEDED (naming the field and the limit, also as
// ErrorInfo metadata) for input past a limit, INVALID_ARGUMENT for input
// no limit could make valid. Both are gRPC INVALID_ARGUMENT.
import { InvalidArgumentError, LimitExceededError } from './errors.js';

export interface Limits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxBatch: number;
}

export function checkKey(limits: Limits, key: unknown, field = 'key'): string {
  if (typeof key !== 'string' || key.length === 0)
    throw new InvalidArgumentError(`${field}: must not be empty`);
  // A UTF-16 length already past the limit means the UTF-8 one is too.
  if (key.length > limits.maxKeyBytes || Buffer.byteLength(key, 'utf8') > limits.maxKeyBytes)
    throw new LimitExceededError(
      field,
      limits.maxKeyBytes,
      `${field}: ${Buffer.byteLength(key, 'utf8')} bytes exceeds the key limit of ${limits.maxKeyBytes} bytes (KVRING_MAX_KEY_BYTES)`,
    );
  // PostgreSQL text cannot hold NUL; lone surrogates would not survive UTF-8.
  if (key.includes('\0')) throw new InvalidArgumentError(`${field}: must not contain NUL characters`);
  if (!key.isWellFormed()) throw new InvalidArgumentError(`${field}: must be valid Unicode (UTF-8)`);
  return key;
}

export function checkValue(limits: Limits, value: Buffer, field = 'value'): Buffer {
  if (value.length > limits.maxValueBytes)
    throw new LimitExceededError(
      field,
      limits.maxValueBytes,
      `${field}: ${value.length} bytes exceeds the value limit of ${limits.maxValueBytes} bytes (KVRING_MAX_VALUE_BYTES)`,
    );
  return value;
}

export function checkBatch(limits: Limits, count: number, field: string): void {
  if (count === 0) throw new InvalidArgumentError(`${field}: must hold at least one entry`);
  if (count > limits.maxBatch)
    throw new LimitExceededError(
      field,
      limits.maxBatch,
      `${field}: ${count} entries exceeds the batch limit of ${limits.maxBatch} (KVRING_MAX_BATCH)`,
    );
}

/** TTLs above ~49 days are almost certainly unit mistakes (seconds sent as ms, or ns). */
export const MAX_TTL_MS = 2 ** 32;

export function checkTtl(ttlMs: number, field = 'ttl_ms'): number {
  if (Number.isSafeInteger(ttlMs) && ttlMs > MAX_TTL_MS)
    throw new LimitExceededError(
      field,
      MAX_TTL_MS,
      `${field}: ${ttlMs} is outside 0..${MAX_TTL_MS} milliseconds`,
    );
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0)
    throw new InvalidArgumentError(`${field}: ${ttlMs} is outside 0..${MAX_TTL_MS} milliseconds`);
  return ttlMs;
}
