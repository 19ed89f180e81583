// gRPC status codes by name, as people read them in messages
// (INVALID_ARGUMENT, UNAVAILABLE, ...).
import { status } from '@grpc/grpc-js';

/** The name of gRPC status `code`, or `CODE_<n>` for one grpc-js does not know. */
export function statusName(code: number): string {
  const name = (status as unknown as Record<number, string | undefined>)[code];
  return typeof name === 'string' ? name : `CODE_${code}`;
}
