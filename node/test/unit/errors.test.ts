// The one table from error code to gRPC status, and what goes on the wire:
// a google.rpc.Status with one ErrorInfo (domain kvring.dev, reason = code).
import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import {
  GRPC_STATUS,
  KvError,
  LimitExceededError,
  QuorumError,
  ShuttingDownError,
  WriteInDoubtError,
  grpcStatusOf,
  type ErrorCode,
} from '../../src/errors.js';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { LegacyUnavailableError } from '../../src/legacy/errors.js';
import { PgUnavailableError, afterCommitSent } from '../../src/pg/errors.js';
import { STATUS_DETAILS_KEY, toWireError } from '../../src/server/status-details.js';

function decoded(err: unknown): { code: number; message: string; info: ErrorInfo } {
  const raw = toWireError(err).metadata.get(STATUS_DETAILS_KEY);
  expect(raw).toHaveLength(1);
  const st = Status.decode(raw[0] as Buffer);
  expect(st.details).toHaveLength(1);
  expect(st.details[0]!.typeUrl).toBe('type.googleapis.com/google.rpc.ErrorInfo');
  return { code: st.code, message: st.message, info: ErrorInfo.decode(st.details[0]!.value) };
}

describe('the status table', () => {
  it('gives no in-doubt or refused-after-commit failure a status generic retry policies resend', () => {
    expect(GRPC_STATUS.WRITE_IN_DOUBT).toBe(status.UNKNOWN);
    const retried = new Set([status.UNAVAILABLE, status.ABORTED, status.RESOURCE_EXHAUSTED]);
    expect(retried.has(GRPC_STATUS.WRITE_IN_DOUBT)).toBe(false);
  });

  it('maps the refusals that prove nothing was applied to UNAVAILABLE', () => {
    const notApplied: ErrorCode[] = ['QUORUM_UNAVAILABLE', 'POSTGRES_UNAVAILABLE', 'SHUTTING_DOWN'];
    for (const code of notApplied) expect(GRPC_STATUS[code]).toBe(status.UNAVAILABLE);
  });

  it('maps bad input to INVALID_ARGUMENT and anything that is not a KvError to INTERNAL', () => {
    expect(grpcStatusOf(new LimitExceededError('value', 16, 'too big'))).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusOf(new Error('a bug'))).toBe(status.INTERNAL);
    // A foreign error that happens to carry a string code is still a bug, not a refusal.
    expect(grpcStatusOf(Object.assign(new Error('x'), { code: 'SHUTTING_DOWN' }))).toBe(status.INTERNAL);
  });
});

describe('errors on the wire', () => {
  it('sends ErrorInfo with the code as reason, in domain kvring.dev, with the status and message', () => {
    const d = decoded(new ShuttingDownError('node is shutting down'));
    expect(d).toMatchObject({ code: status.UNAVAILABLE, message: 'node is shutting down' });
    expect(d.info).toEqual({ reason: 'SHUTTING_DOWN', domain: 'kvring.dev', metadata: {} });
    expect(toWireError(new ShuttingDownError('x'))).toMatchObject({ code: status.UNAVAILABLE, details: 'x' });
  });

  it('names the field and the limit of LIMIT_EXCEEDED', () => {
    const d = decoded(new LimitExceededError('entries', 1000, 'entries: 1001 entries exceeds ...'));
    expect(d.code).toBe(status.INVALID_ARGUMENT);
    expect(d.info).toMatchObject({ reason: 'LIMIT_EXCEEDED', metadata: { field: 'entries', limit: '1000' } });
  });

  it('sends WRITE_IN_DOUBT as UNKNOWN with the committed version when known', () => {
    const d = decoded(new WriteInDoubtError('committed, W not reached', 42));
    expect(d.code).toBe(status.UNKNOWN);
    expect(d.info).toMatchObject({ reason: 'WRITE_IN_DOUBT', metadata: { version: '42' } });
  });

  it('sends the legacy failure and INTERNAL for a bug', () => {
    expect(decoded(new LegacyUnavailableError('LEGACY_HTTP_503', 'x')).info).toMatchObject({
      reason: 'LEGACY_UNAVAILABLE',
      metadata: { failure: 'LEGACY_HTTP_503' },
    });
    expect(decoded(new TypeError('oops'))).toMatchObject({
      code: status.INTERNAL,
      info: { reason: 'INTERNAL' },
    });
  });

  it('has every failure class a KvError', () => {
    for (const e of [new QuorumError('q'), new PgUnavailableError('p', 'closed')])
      expect(e).toBeInstanceOf(KvError);
  });
});

describe('a write whose commit was sent', () => {
  const lost = (cause: unknown): PgUnavailableError =>
    new PgUnavailableError('PostgreSQL is unreachable', 'unreachable', { cause });

  it('is in doubt when the connection broke or timed out before the answer', () => {
    for (const cause of [
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
      Object.assign(new Error('terminating connection'), { code: '57P01' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
    ])
      expect(afterCommitSent(lost(cause), 'write')).toBeInstanceOf(WriteInDoubtError);
  });

  it('is not done when PostgreSQL itself answered with an error', () => {
    const answered = lost(Object.assign(new Error('could not serialize'), { code: '40001' }));
    expect(afterCommitSent(answered, 'write')).toBe(answered);
    const statement = new PgUnavailableError('answered ROLLBACK to COMMIT', 'statement');
    expect(afterCommitSent(statement, 'write')).toBe(statement);
  });
});
