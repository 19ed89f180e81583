// How the CLI names a failure: by the node's ErrorInfo reason (the typed
// error's reason), never by parsing the message; the gRPC status name only
// when the transport failed and no node gave a reason.
import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { KvError, LimitExceededError, WriteInDoubtError } from '@kvring/client';
import { describeError } from '../src/output.js';

describe('describeError', () => {
  it('names the reason, not the status: WRITE_IN_DOUBT travels as UNKNOWN', () => {
    const e = new WriteInDoubtError(
      'WRITE_IN_DOUBT',
      status.UNKNOWN,
      'the commit answer was lost',
      '10.0.0.7:50051',
    );
    expect(describeError(e)).toBe('WRITE_IN_DOUBT: the commit answer was lost');
  });

  it('gives the field and the limit of LIMIT_EXCEEDED from the error metadata', () => {
    const e = new LimitExceededError(
      'LIMIT_EXCEEDED',
      status.INVALID_ARGUMENT,
      'too long',
      '10.0.0.7:50051',
      {
        field: 'key',
        limit: '1024',
      },
    );
    expect(describeError(e)).toBe('LIMIT_EXCEEDED (key, limit 1024): too long');
  });

  it('a transport failure: the status name and the address', () => {
    const e = new KvError(
      'UNAVAILABLE',
      status.UNAVAILABLE,
      'connect ECONNREFUSED',
      '10.0.0.7:50051',
      {},
      true,
    );
    expect(describeError(e)).toBe('UNAVAILABLE: connect ECONNREFUSED (10.0.0.7:50051)');
  });
});
