// What a node answers to a Set it must refuse, read at the wire: the gRPC
// status code and the rich error details trailer (grpc-status-details-bin, a
// google.rpc.Status), which @kvring/client does not surface. The quickstart
// test uses it to know whether the programs must print a reason.
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { SetRequest } from '@kvring/client/proto';

export interface WireStatus {
  readonly code: number;
  /** The serialized google.rpc.Status, when the node sent one. */
  readonly details: Buffer | undefined;
}

const DETAILS_TRAILER = 'grpc-status-details-bin';

/** Sends Set(key) to `address` and returns the status it failed with (throws if it succeeded). */
export async function refusedSetStatus(
  address: string,
  key: string,
  timeoutMs = 10_000,
): Promise<WireStatus> {
  const client = new Client(address, credentials.createInsecure());
  try {
    const err = await new Promise<ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        '/kvring.v1.KVService/Set',
        (req: SetRequest) => Buffer.from(SetRequest.encode(req).finish()),
        (buf: Buffer) => buf,
        SetRequest.fromPartial({ key, value: Buffer.from('x') }),
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (e) => resolve(e),
      );
    });
    if (err === null) throw new Error(`${address} accepted Set of a ${key.length}-byte key`);
    const [details] = err.metadata.get(DETAILS_TRAILER);
    return { code: err.code, details: Buffer.isBuffer(details) ? details : undefined };
  } finally {
    client.close();
  }
}
