// Which failures after connect() prove the call never reached a node: only
// grpc-js's picker failing it for want of a connection (a stopping node's
// GOAWAY refused the stream and the transparent retry found no connection).
// Anything else after connect may have been received, so a write is not resent.
import { describe, expect, it } from '@jest/globals';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { neverSent } from '../src/connect.js';

function failure(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });
}

describe('neverSent', () => {
  it('is true only for the picker failing a call it had no connection for', () => {
    const picked =
      'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.2:50051. Resolution note: ';
    expect(neverSent(failure(status.UNAVAILABLE, picked))).toBe(true);
    expect(
      neverSent(failure(status.UNAVAILABLE, 'round_robin: No connection established. Last error: x')),
    ).toBe(true);
    expect(neverSent(failure(status.UNAVAILABLE, 'Connection dropped'))).toBe(false);
    expect(neverSent(failure(status.UNAVAILABLE, 'Received RST_STREAM with code 2'))).toBe(false);
    expect(neverSent(failure(status.DEADLINE_EXCEEDED, picked))).toBe(false);
    expect(neverSent(failure(status.UNAVAILABLE, 'node is shutting down; No connection established'))).toBe(
      false,
    );
  });
});
