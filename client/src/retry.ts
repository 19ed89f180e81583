// When a failed call may go to another node. The rule is about effects,
// not about errors in general: a read has none, so it may be sent again
// whenever the node was unavailable; a write may be sent again only when
// the failure proves it was not applied, because a second send of an
// applied (or possibly applied) write can apply it twice: a Set of x, then
// another client's y, then our resent x leaves x where y belongs.
import { status } from '@grpc/grpc-js';
import type { KvError } from './errors.js';

const UNAVAILABLE: number = status.UNAVAILABLE;

export type CallKind = 'read' | 'write';

/**
 * Reasons a node sends for a write it refused before anything reached
 * PostgreSQL's commit: QUORUM_UNAVAILABLE (too few replicas up, refused up
 * front; a write that committed but missed W replicas is WRITE_IN_DOUBT),
 * POSTGRES_UNAVAILABLE (refused or failed before the commit was sent),
 * SHUTTING_DOWN (refused at the door).
 */
const WRITE_NOT_APPLIED: ReadonlySet<string> = new Set([
  'QUORUM_UNAVAILABLE',
  'POSTGRES_UNAVAILABLE',
  'SHUTTING_DOWN',
]);

/** Whether `err`, from a call of this kind, may be sent to another node. */
export function mayResend(kind: CallKind, err: KvError): boolean {
  // Never sent: no node saw it.
  if (err.notSent) return true;
  if (kind === 'read') return err.code === UNAVAILABLE;
  // WRITE_IN_DOUBT, DEADLINE_EXCEEDED, CANCELLED, a connection lost after
  // sending (UNAVAILABLE without a reason) and anything else: the write may
  // have been applied.
  return err.code === UNAVAILABLE && WRITE_NOT_APPLIED.has(err.reason);
}

/**
 * grpc-js's own retries (service config): the idempotent reads only, on
 * UNAVAILABLE, on the same node with a short backoff. Writes have no policy:
 * grpc-js still replays a call it never sent (transparent retry), which is
 * safe, and nothing else.
 */
export const SERVICE_CONFIG = JSON.stringify({
  methodConfig: [
    {
      name: ['Get', 'MGet', 'ClusterInfo'].map((method) => ({ service: 'kvring.v1.KVService', method })),
      retryPolicy: {
        maxAttempts: 2,
        initialBackoff: '0.05s',
        maxBackoff: '0.5s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
});
