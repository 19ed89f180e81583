// Connect first, then send. grpc-js knows whether a failed call ever left
// the client (its internal "progress") but drops that before the caller
// sees the status: a call that found no connection and one whose
// connection broke after the request went out both end as UNAVAILABLE,
// told apart only by message text. So the client waits for the channel to
// be READY before it starts a call: a node it cannot connect to fails here,
// provably before anything was sent, and any failure after this point is
// treated as "may have been received" -- with one exception, neverSent().
import { connectivityState, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { KvError } from './errors.js';

/** Resolves once `client`'s channel is READY; rejects with a not-sent KvError when it cannot connect. */
export async function connected(client: Client, address: string, deadline: number): Promise<void> {
  const channel = client.getChannel();
  // Bounded by the deadline (watchConnectivityState fails past it) and by the state machine.
  for (;;) {
    const state = channel.getConnectivityState(true);
    if (state === connectivityState.READY) return;
    if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN)
      throw notConnected(address, 'the connection failed');
    const changed = await new Promise<boolean>((resolve) =>
      channel.watchConnectivityState(state, deadline, (err) => resolve(!err)),
    );
    if (!changed) throw notConnected(address, 'no connection within the deadline');
  }
}

function notConnected(address: string, why: string): KvError {
  return new KvError(
    'UNAVAILABLE',
    status.UNAVAILABLE,
    `cannot connect to ${address}: ${why} (the call was not sent)`,
    address,
    {},
    true,
  );
}

/**
 * A call that failed after connected() but provably never reached a node:
 * the node closed its connection (a stopping node's GOAWAY) just as the
 * call started; HTTP/2 guarantees a stream refused so was not processed,
 * grpc-js then retries it transparently on a new connection, and when none
 * can be made its picker fails the call with "No connection established"
 * (grpc-js 1.x: picker.js, load-balancer-pick-first.js). A call that was
 * processed and then lost its connection ends with another message.
 */
export function neverSent(err: ServiceError): boolean {
  return err.code === status.UNAVAILABLE && /^(\w+: )?No connection established/.test(err.details);
}
